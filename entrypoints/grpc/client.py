"""`cruncan submit`: a small OneService client, showing a call as a client program makes it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from entrypoints.grpc.gen import one_pb2, one_pb2_grpc

TIMEOUT_S = 10.0


class CallFailed(Exception):
    """The server refused the call; the message says with what code, why, and which field."""


def submit(target: str, body: dict[str, object], token: str | None = None) -> str:
    """Submits the JSON-shaped `body` (as `POST /one` takes it) and returns the new request's ID."""
    try:
        message = ParseDict(body, one_pb2.SubmitRequest())
    except ParseError as exc:
        raise CallFailed(f"not a SubmitRequest: {exc}") from None
    with grpc.insecure_channel(target) as channel:
        try:
            reply = _stub(channel).Submit(message, timeout=TIMEOUT_S, metadata=_auth(token))
        except grpc.RpcError as exc:
            raise CallFailed(_explained(exc)) from None
    return str(reply.request_id)


def get(target: str, request_id: str, token: str | None = None) -> dict[str, object]:
    """The stored request, as the JSON mapping of `GetResponse`."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = _stub(channel).Get(
                one_pb2.GetRequest(request_id=request_id), timeout=TIMEOUT_S, metadata=_auth(token)
            )
        except grpc.RpcError as exc:
            raise CallFailed(_explained(exc)) from None
    return MessageToDict(reply, preserving_proto_field_name=True)


def _auth(token: str | None) -> Sequence[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def _explained(error: grpc.RpcError) -> str:
    """A failed unary call's error is also its `grpc.Call`: the code, the message and the status details."""
    call = cast("grpc.Call", error)
    code, details = call.code().name, call.details()
    status = rpc_status.from_call(call)
    fields = []
    for packed in status.details if status else []:
        bad_request = error_details_pb2.BadRequest()
        if packed.Unpack(bad_request):
            fields += [violation.field for violation in bad_request.field_violations]
    return f"{code}: {details}" + (f" (field {', '.join(fields)})" if fields else "")


def pretty(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def _stub(channel: grpc.Channel) -> Any:
    return one_pb2_grpc.OneServiceStub(channel)  # type: ignore[no-untyped-call]
