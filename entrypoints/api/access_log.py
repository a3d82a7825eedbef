"""One log line per HTTP request: method, route, status, duration, and the request ID when there is one.

The trace ID comes from the log formatters, which add the current span's IDs to every record."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from domain.model.snowflake import is_snowflake

log = logging.getLogger(__name__)
UNMATCHED = "(no route)"


def log_each_request(app: Flask) -> None:
    """Times each request from its first `before_request` and logs it once its response is made."""

    @app.before_request
    def start_clock() -> None:
        g.access_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        if not log.isEnabledFor(logging.INFO):  # build nothing for a record no handler would see
            return response
        started = g.get("access_started", time.perf_counter())
        duration_ms = (time.perf_counter() - started) * 1000
        route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
        fields: dict[str, object] = {
            "http.request.method": request.method,
            "http.route": route,
            "http.response.status_code": response.status_code,
            "http.server.duration_ms": round(duration_ms, 2),
        }
        request_id = _request_id(response)
        if request_id is not None:
            fields["cruncan.request.id"] = request_id
        log.info(
            "%s %s %d %.1f ms%s",
            request.method,
            route,
            response.status_code,
            duration_ms,
            f" request_id={request_id}" if request_id else "",
            extra=fields,
        )
        return response


def _request_id(response: Response) -> str | None:
    """The ID the request named (`GET /one/<id>`) or created (`Location` of a 201), if it is a valid one."""
    named = (request.view_args or {}).get("request_id")
    if named is None and response.status_code == 201:
        named = (response.headers.get("Location") or "").rpartition("/")[2]
    return named if isinstance(named, str) and is_snowflake(named) else None
