"""The demo page and its demo-only endpoints: the recent requests with their timelines, the stand-in
third party's faults, and a token for the page's own requests when authentication is on. Registered
on the API's app by `cruncan demo` only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_from_directory

from domain.model.request import StoredRequest
from domain.usecases.query import ListRecentRequests
from entrypoints.api.errors import error_response
from entrypoints.api.json_body import MalformedJson, decode_json
from entrypoints.demo.faults import FaultSwitch, InvalidFaults, parse_faults
from entrypoints.demo.steps import StepRecorder

STATIC = Path(__file__).with_name("static")
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
# The page loads nothing from elsewhere and runs no inline script.
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"


def demo_blueprint(
    recent: ListRecentRequests,
    steps: StepRecorder,
    switch: FaultSwitch,
    token: Callable[[], str | None] = lambda: None,
) -> Blueprint:
    """`GET /` (the page), `GET /demo/requests?limit=N`, `GET` and `PUT /demo/faults`, `GET /demo/token`
    (`{"token": ...}`, a new one from `token()` each time, null when authentication is off), and the
    page's assets under `/demo/static/`."""
    blueprint = Blueprint("demo", __name__, static_folder=STATIC, static_url_path="/demo/static")

    @blueprint.get("/")
    def page() -> Response:
        response = send_from_directory(STATIC, "index.html", max_age=0)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

    @blueprint.get("/demo/requests")
    def requests() -> tuple[Response, int]:
        raw = request.args.get("limit", str(LIMIT_DEFAULT))
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
            return error_response(400, "invalid_limit", f"limit must be a whole number from 1 to {LIMIT_MAX}")
        listed = [_row(stored, steps) for stored in recent(int(raw))]
        return jsonify({"requests": listed}), 200

    @blueprint.get("/demo/token")
    def page_token() -> Response:
        response = jsonify({"token": token()})
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.get("/demo/faults")
    def faults() -> Response:
        return jsonify(switch.faults.to_json())

    @blueprint.put("/demo/faults")
    def set_faults() -> tuple[Response, int]:
        try:
            document = decode_json(request.get_data())
        except MalformedJson as exc:
            return error_response(400, "malformed_json", str(exc))
        try:
            chosen = parse_faults(document)
        except InvalidFaults as exc:
            return error_response(400, "invalid_faults", str(exc), field=exc.field)
        switch.set(chosen)
        return jsonify(chosen.to_json()), 200

    return blueprint


def _row(stored: StoredRequest, steps: StepRecorder) -> dict[str, object]:
    timeline = steps.timeline(stored.request_id)
    traced = timeline.to_json() if timeline else {"trace_id": None, "steps": [], "calls": []}
    return {
        "request_id": stored.request_id,
        "user_id": stored.body.user_id,
        "status": stored.status.value,
        "failure_reason": stored.failure_reason,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
        **traced,
    }
