"""Thin HTTP handlers: turn a request into a use-case call, and its result into JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from domain.usecases.query import GetRequest
from entrypoints.api.auth import current_subject
from entrypoints.api.container import ApiContainer
from entrypoints.api.errors import error_response
from entrypoints.api.json_body import DuplicateKey, MalformedJson, decode_json
from entrypoints.api.openapi import openapi_document
from ports.health import Probe

log = logging.getLogger(__name__)
blueprint = Blueprint("one", __name__)


IDEMPOTENCY_KEY = "Idempotency-Key"


@blueprint.post("/one")
@inject
def post_one(
    ingest: Callable[[object, str | None, str | None], str] = Provide[ApiContainer.ingest],
) -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    if not request.is_json:
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {request.mimetype or 'none'!r}")
    try:
        body = decode_json(request.get_data())
    except DuplicateKey as exc:
        return error_response(400, "duplicate_key", str(exc))
    except MalformedJson as exc:
        return error_response(400, "malformed_json", str(exc))
    request_id = ingest(body, request.headers.get(IDEMPOTENCY_KEY), current_subject())
    # The route `get_one` serves, written out: `url_for` walks the URL map on every request.
    return jsonify({"request_id": request_id}), 201, {"Location": f"{request.script_root}/one/{request_id}"}


@blueprint.get("/one/<request_id>")
@inject
def get_one(request_id: str, query: GetRequest = Provide[ApiContainer.query]) -> Response:
    return jsonify(query(request_id).to_json())


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
@inject
def readyz(probes: Sequence[Probe] = Provide[ApiContainer.probes]) -> tuple[Response, int]:
    """Names each dependency `ok` or `unavailable`; why one is down (hosts, roles, the driver's words)
    goes to the log only, since anyone who can reach the port may ask."""
    down: list[str] = []
    for probe in probes:
        try:
            probe.check()
        except Exception as exc:  # a probe reports any failure as "not ready"
            log.warning("not ready: %s: %s", probe.name, str(exc) or type(exc).__name__)
            down.append(probe.name)
    checks = {probe.name: "unavailable" if probe.name in down else "ok" for probe in probes}
    if down:
        return jsonify({"error": "not_ready", "detail": f"unavailable: {', '.join(down)}", "checks": checks}), 503
    return jsonify({"status": "ready", "checks": checks}), 200


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document(authenticated=current_app.config.get("AUTH_ENABLED", False)))
