"""The parts of HTTP (RFC 9110, RFC 6750) both clients read the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus

_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def is_bearer_token(value: str) -> bool:
    """Whether `value` has the b64token syntax of RFC 6750, so it can go in a header as is."""
    return _BEARER_TOKEN.fullmatch(value) is not None


def is_header_safe(value: str) -> bool:
    return bool(value) and value.isascii() and value.isprintable()


def is_transient(status: int) -> bool:
    """Whether the same request may succeed later: timeouts, rate limits and server errors."""
    return status in (HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS) or status >= 500


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: either delay-seconds or an HTTP date; None if absent or unreadable."""
    if header is None:
        return None
    text = header.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())
