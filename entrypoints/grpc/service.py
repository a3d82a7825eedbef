"""`cruncan.one.v1.OneService`: each RPC turns its message into a use-case call and the result into a reply.

Requests are deserialized here rather than by gRPC, so that bytes that are not a valid message are an
`INVALID_ARGUMENT` naming the problem, not gRPC's own `INTERNAL` "Exception deserializing request!"."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import grpc

from domain.model.errors import RequestNotFound
from domain.model.request import StoredRequest
from entrypoints.grpc.errors import abort_on
from entrypoints.grpc.gen import one_pb2
from entrypoints.grpc.messages import get_response, requested_id, submitted

SERVICE_NAME = one_pb2.DESCRIPTOR.services_by_name["OneService"].full_name
REQUEST_ID = re.compile(r"[0-9]{1,20}")


class InFlight:
    """Counts the RPCs being answered, so a shutdown can tell whether they all finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


class OneService:
    """Submit runs the ingest use case, Get the query: the same ones `POST /one` and `GET /one/{id}` run."""

    def __init__(
        self,
        ingest: Callable[[object, str | None, str | None], str],
        query: Callable[[str], StoredRequest],
        in_flight: InFlight,
        submitter: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._ingest = ingest
        self._query = query
        self._submitter = submitter
        self.in_flight = in_flight

    def submit(self, raw: bytes, context: grpc.ServicerContext) -> one_pb2.SubmitResponse:
        with self.in_flight:
            try:
                body, request_key = submitted(raw)
                return one_pb2.SubmitResponse(request_id=self._ingest(body, request_key, self._submitter()))
            except Exception as exc:  # every failure leaves as a status, never as a stack trace
                abort_on(context, exc)

    def get(self, raw: bytes, context: grpc.ServicerContext) -> one_pb2.GetResponse:
        with self.in_flight:
            try:
                request_id = requested_id(raw)
                if not REQUEST_ID.fullmatch(request_id):
                    raise RequestNotFound(request_id[:40])
                return get_response(self._query(request_id))
            except Exception as exc:
                abort_on(context, exc)

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Submit": _unary(self.submit, one_pb2.SubmitResponse),
                "Get": _unary(self.get, one_pb2.GetResponse),
            },
        )


def _unary(
    behaviour: Callable[[bytes, grpc.ServicerContext], Any], reply: type[Any]
) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=None, response_serializer=reply.SerializeToString
    )
