"""`GET /docs`: Swagger UI on `/openapi.json`, from the files the `swagger-ui-bundle` package ships
(no CDN: it works offline). Registered when `http.docs` is on."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

SWAGGER_UI = Path(str(swagger_ui_path))
OWN_ASSETS = Path(__file__).with_name("docs_assets")
SWAGGER_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")

blueprint = Blueprint("docs", __name__)


@blueprint.get("/docs")
def docs() -> Response:
    return send_from_directory(OWN_ASSETS, "docs.html", max_age=0)


@blueprint.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    """Swagger UI's stylesheet and script, and the script that points it at the document."""
    if name in SWAGGER_FILES:
        return send_from_directory(SWAGGER_UI, name)
    return send_from_directory(OWN_ASSETS, name)
