"""Who made a request, on the span that serves it: the token's subject, never the token."""

from __future__ import annotations

from opentelemetry import trace

SUBJECT_ATTRIBUTE = "enduser.id"


def record_subject(subject: str) -> None:
    """Sets `enduser.id` on the current span (the server span of the request being authenticated)."""
    trace.get_current_span().set_attribute(SUBJECT_ATTRIBUTE, subject)
