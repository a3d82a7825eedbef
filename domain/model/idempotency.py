"""Idempotency keys: a client names a request so that retrying it stores it only once.

A key is 1 to 255 printable ASCII characters (space to `~`), neither first nor last a space (HTTP
would strip it), opaque to the server. It is kept
with the fingerprint of the request it created, so that a retry with another body is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model.errors import InvalidIdempotencyKey
from domain.model.request import OneRequest

KEY_MAX = 255
KEY_PATTERN = f"^[\\x21-\\x7e]([\\x20-\\x7e]{{0,{KEY_MAX - 2}}}[\\x21-\\x7e])?$"
DEFAULT_WINDOW = timedelta(hours=24)


def validated_key(raw: str) -> str:
    """`raw` itself if it is a valid key; raises `InvalidIdempotencyKey` otherwise."""
    if not raw:
        raise InvalidIdempotencyKey("must not be empty")
    if len(raw) > KEY_MAX:
        raise InvalidIdempotencyKey(f"must be at most {KEY_MAX} characters")
    if not all(" " <= char <= "~" for char in raw):
        raise InvalidIdempotencyKey("must be printable ASCII (space to '~')")
    if raw[0] == " " or raw[-1] == " ":
        raise InvalidIdempotencyKey("must not start or end with a space")
    return raw


SUBJECT_SEPARATOR = "\x1f"


def scoped_key(key: str, subject: str | None) -> str:
    """The key as stored: one authenticated client's keys are its own, so another client that sends
    the same key neither gets this one's request ID back nor is refused for this one's body. A
    valid key has no control character, so the separator, and the last one, splits the two
    unambiguously; without authentication (no subject) the key is stored as sent."""
    return key if subject is None else f"{subject}{SUBJECT_SEPARATOR}{key}"


def fingerprint(request: OneRequest) -> str:
    """The SHA-256 (hex) of the request's canonical JSON: equal for bodies that mean the same request."""
    canonical = json.dumps(request.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class IdempotencyRecord:
    """A key, the fingerprint of the request it created, that request's ID, and when the key may be forgotten."""

    key: str
    fingerprint: str
    request_id: str
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now
