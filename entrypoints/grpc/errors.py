"""Every failure leaves the gRPC API as a status code a client can act on, with a `google.rpc.Status` in
the `grpc-status-details-bin` trailer: the field a broken rule names, how long to wait before retrying."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from domain.model.errors import (
    ClockMovedBackwards,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidRequest,
    RequestNotFound,
    StoreUnavailable,
)

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1
DETAILS_KEY = "grpc-status-details-bin"
REQUEST_KEY = "request_key"
DOMAIN = "cruncan"


def retry_info(seconds: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))


def error_info(reason: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata={"field": REQUEST_KEY})


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, *details: object) -> NoReturn:
    """Ends the call with `code`, `message` and `details` (protobuf messages) packed in a `google.rpc.Status`."""
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)  # type: ignore[arg-type]
        status.details.append(packed)
    context.set_trailing_metadata(((DETAILS_KEY, status.SerializeToString()),))
    context.abort(code, message)


def abort_on(context: grpc.ServicerContext, exc: Exception) -> NoReturn:
    """Answers `exc` with the status the HTTP API's error handlers answer it with, in gRPC's terms."""
    if isinstance(exc, InvalidRequest):
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.problem)
        bad_request = error_details_pb2.BadRequest(field_violations=[violation])
        abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc), bad_request)
    if isinstance(exc, InvalidIdempotencyKey):
        violation = error_details_pb2.BadRequest.FieldViolation(field=REQUEST_KEY, description=exc.problem)
        bad_request = error_details_pb2.BadRequest(field_violations=[violation])
        abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"{REQUEST_KEY}: {exc.problem}", bad_request)
    if isinstance(exc, IdempotencyKeyReused):
        message = "this request_key was already used with different fields"
        abort(context, grpc.StatusCode.ALREADY_EXISTS, message, error_info("REQUEST_KEY_REUSED"))
    if isinstance(exc, IdempotencyKeyInUse):
        retry = retry_info(RETRY_AFTER_S)
        message = "a request with this request_key is still being stored; retry to get its answer"
        abort(context, grpc.StatusCode.ABORTED, message, error_info("REQUEST_KEY_IN_USE"), retry)
    if isinstance(exc, RequestNotFound):
        abort(context, grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, StoreUnavailable | ClockMovedBackwards):
        log.warning("answering UNAVAILABLE: %s", exc)
        retry = retry_info(RETRY_AFTER_S)
        message = exc.summary if isinstance(exc, StoreUnavailable) else str(exc)  # the reason is for the log only
        abort(context, grpc.StatusCode.UNAVAILABLE, message or "a dependency is unavailable", retry)
    log.error("unhandled error", exc_info=exc)
    abort(context, grpc.StatusCode.INTERNAL, "the server failed to handle the request")
