"""Every error leaves the API as JSON `{"error": ..., "detail": ...}`, never as a stack trace."""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

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


def error_response(status: int, error: str, detail: str, **extra: object) -> tuple[Response, int]:
    return jsonify({"error": error, "detail": detail, **extra}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidRequest)
    def invalid_request(exc: InvalidRequest) -> tuple[Response, int]:
        return error_response(400, "invalid_request", str(exc), field=exc.field)

    @app.errorhandler(InvalidIdempotencyKey)
    def invalid_key(exc: InvalidIdempotencyKey) -> tuple[Response, int]:
        return error_response(400, "invalid_idempotency_key", f"the Idempotency-Key header {exc.problem}")

    @app.errorhandler(IdempotencyKeyInUse)
    def key_in_use(exc: IdempotencyKeyInUse) -> tuple[Response, int]:
        detail = "a request with this Idempotency-Key is still being stored; retry to get its answer"
        response, status = error_response(409, "idempotency_key_in_use", detail)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response, status

    @app.errorhandler(IdempotencyKeyReused)
    def key_reused(exc: IdempotencyKeyReused) -> tuple[Response, int]:
        detail = "this Idempotency-Key was already used with a different body"
        return error_response(422, "idempotency_key_reused", detail)

    @app.errorhandler(RequestNotFound)
    def not_found(exc: RequestNotFound) -> tuple[Response, int]:
        return error_response(404, "not_found", str(exc))

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(ClockMovedBackwards)
    def unavailable(exc: Exception) -> tuple[Response, int]:
        log.warning("answering 503: %s", exc)
        detail = exc.summary if isinstance(exc, StoreUnavailable) else str(exc)
        response, status = error_response(503, "unavailable", detail or "a dependency is unavailable")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, "body_too_large", f"the body is larger than the limit of {limit} bytes")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        response, _ = error_response(status, _snake(exc.name), exc.description or exc.name)
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the server failed to handle the request")


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
