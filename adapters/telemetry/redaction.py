"""What must never reach a log line or a span: credentials, tokens and request bodies."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
SECRET_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "client_secret", "password"})
BODY_FIELDS = frozenset({"body", "payload", "request_body", "response_body"})

MIN_SECRET_LENGTH = 4

_NAMED_SECRET = re.compile(
    r"""(?P<name>["']?\b(?:"""
    + "|".join(re.escape(name) for name in sorted(SECRET_HEADERS | SECRET_FIELDS))
    + r""")\b["']?\s*[:=]\s*)(?P<quote>["']?)(?>(?:(?P<scheme>bearer|basic)\s+)?)(?!\[REDACTED\])[^\s"',;&}\]]+""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE)


def _named_secret(match: re.Match[str]) -> str:
    scheme = f"{match['scheme']} " if match["scheme"] else ""
    return f"{match['name']}{match['quote']}{scheme}{REDACTED}"


class Redactor:
    """Blanks secrets out of text and structured values: the values it was told are secret,
    bearer tokens, and whatever follows a secret header or field name (`Authorization: ...`,
    `"access_token": "..."`, `client_secret=...`). Fields named after a secret or a body are
    blanked whole. Secrets shorter than `MIN_SECRET_LENGTH` are ignored. Thread-safe."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.remember(secret)

    def remember(self, secret: str) -> None:
        if len(secret.strip()) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret not in self._secrets:
                self._secrets = tuple(sorted((*self._secrets, secret), key=len, reverse=True))

    def text(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _NAMED_SECRET.sub(_named_secret, text)
        return _BEARER.sub(lambda match: f"{match['scheme']} {REDACTED}", text)

    def field(self, name: str, value: object) -> object:
        if is_sensitive_name(name):
            return REDACTED
        return self.value(value)

    def value(self, value: object) -> object:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.field(str(key), item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(item) for item in value)
        return value


def is_sensitive_name(name: str) -> bool:
    normalised = name.strip().lower()
    return (
        normalised.replace("_", "-") in SECRET_HEADERS
        or normalised.replace("-", "_") in SECRET_FIELDS
        or normalised.replace("-", "_") in BODY_FIELDS
    )
