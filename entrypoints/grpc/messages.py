"""Between the wire and the core: a `SubmitRequest` becomes the body the ingest use case validates, and a
`StoredRequest` becomes a `GetResponse`. Fields a client sends that this server does not know are refused,
as the HTTP API refuses unknown JSON members, rather than dropped without a word."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.unknown_fields import UnknownFieldSet

from domain.model.errors import InvalidRequest
from domain.model.request import RequestStatus, StoredRequest
from entrypoints.grpc.gen import one_pb2

M = TypeVar("M", bound=Message)

STATUSES = {
    RequestStatus.ACCEPTED: one_pb2.REQUEST_STATUS_ACCEPTED,
    RequestStatus.PUBLISHED: one_pb2.REQUEST_STATUS_PUBLISHED,
    RequestStatus.FORWARDED: one_pb2.REQUEST_STATUS_FORWARDED,
    RequestStatus.FAILED: one_pb2.REQUEST_STATUS_FAILED,
}


def submitted(raw: bytes) -> tuple[dict[str, object], str | None]:
    """The JSON-shaped body of a serialized `SubmitRequest`, and its request key if it has one;
    raises `InvalidRequest` if the bytes cannot be one."""
    submit = _parse(one_pb2.SubmitRequest, raw)
    _refuse_unknown(submit, "")
    for index, item in enumerate(submit.data):
        _refuse_unknown(item, f"data[{index}].")
    body: dict[str, object] = {
        "user_id": submit.user_id,
        "prompt": submit.prompt,
        "data": [{"key": item.key, "value": item.value} for item in submit.data],
    }
    return body, submit.request_key or None


def requested_id(raw: bytes) -> str:
    request = _parse(one_pb2.GetRequest, raw)
    _refuse_unknown(request, "")
    return request.request_id


def get_response(stored: StoredRequest) -> one_pb2.GetResponse:
    response = one_pb2.GetResponse(
        request_id=stored.request_id,
        request=one_pb2.OneRequest(
            user_id=stored.body.user_id,
            prompt=stored.body.prompt,
            data=[one_pb2.DataItem(key=item.key, value=item.value) for item in stored.body.data],
        ),
        status=STATUSES[stored.status],
        created_at=_timestamp(stored.created_at),
        updated_at=_timestamp(stored.updated_at),
    )
    if stored.failure_reason is not None:
        response.failure_reason = stored.failure_reason
    if stored.submitted_by is not None:
        response.submitted_by = stored.submitted_by
    return response


def _parse(kind: type[M], raw: bytes) -> M:
    try:
        return kind.FromString(raw)
    except DecodeError as exc:
        raise InvalidRequest("body", f"is not a valid {kind.DESCRIPTOR.full_name}: {exc}") from None


def _refuse_unknown(message: Message, prefix: str) -> None:
    for unknown in UnknownFieldSet(message):  # type: ignore[attr-defined]
        raise InvalidRequest(f"{prefix}#{unknown.field_number}", "is not a known field (by its field number)")


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
