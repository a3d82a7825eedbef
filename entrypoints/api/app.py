from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Flask, Response, jsonify

from entrypoints.api import docs, views
from entrypoints.api.access_log import log_each_request
from entrypoints.api.auth import install_authentication
from entrypoints.api.container import ApiContainer
from entrypoints.api.errors import register_error_handlers


class JsonFlask(Flask):
    """Flask whose automatic `OPTIONS` answer lists the route's methods as JSON, besides `Allow`."""

    def make_default_options_response(self) -> Response:
        allowed = sorted(super().make_default_options_response().allow)
        response = jsonify({"allow": allowed})
        response.headers["Allow"] = ", ".join(allowed)
        return response


def create_app(container: ApiContainer, extra: Sequence[Blueprint] = ()) -> Flask:
    """The Flask app on a built container; its views get their use cases from it by wiring.
    `GET /docs` only when `http.docs` is on; `extra` blueprints (the demo's) after the API's own."""
    app = JsonFlask("cruncan")
    app.config["MAX_CONTENT_LENGTH"] = container.config.http.max_body_bytes()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    container.wire()
    app.register_blueprint(views.blueprint)
    if container.config.http.docs():
        app.register_blueprint(docs.blueprint)
    for blueprint in extra:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    container.instrument_app(app)
    log_each_request(app)
    # After the instrumentation: Flask runs before_request hooks in order, and a refused request must
    # still have its server span (opened by the instrumentation's hook) to carry the subject and status.
    app.config["AUTH_ENABLED"] = container.config.auth.enabled()
    if app.config["AUTH_ENABLED"]:
        install_authentication(app, container.authentication.verifier(), container.authentication.record_subject())
    return app
