"""Requests and messages the store contracts write and expect back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model.message import OutboxMessage
from domain.model.request import DataItem, OneRequest, RequestStatus, StoredRequest

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def a_request(
    request_id: str, status: RequestStatus = RequestStatus.ACCEPTED, reason: str | None = None
) -> StoredRequest:
    body = OneRequest(user_id=f"user-{request_id}", prompt="summarise ✓", data=(DataItem("lang", "en"),))
    return StoredRequest(request_id, body, status, created_at=T0, updated_at=T0, failure_reason=reason)


def a_message(key: str, headers: dict[str, str] | None = None) -> OutboxMessage:
    payload = f'{{"request_id":"{key}"}}'.encode()
    return OutboxMessage(key=key, payload=payload, created_at=T0, headers=headers or {"traceparent": f"00-{key}"})


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
