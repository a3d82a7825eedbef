"""`cruncan api` serves no page of the demo's, and Swagger UI at /docs only when `http.docs` is on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from adapters.telemetry.providers import Telemetry
from entrypoints.api.app import create_app
from entrypoints.api.container import build_container
from entrypoints.settings import load_settings


@pytest.fixture
def api_app() -> Iterator[Flask]:
    """The app exactly as `cruncan api` builds it from the shipped settings."""
    container = build_container(load_settings(environ={}), Telemetry.disabled("cruncan-api"))
    yield create_app(container)
    container.unwire()


def routes(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules()}


def test_the_api_app_has_no_demo_route_and_no_page_at_the_root(api_app: Flask) -> None:
    served = routes(api_app)
    assert "/" not in served
    assert not [route for route in served if route.startswith(("/demo", "/docs"))], served
    client = api_app.test_client()
    for path in ("/", "/demo/requests", "/demo/faults", "/demo/static/demo.js", "/docs"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json is not None
        assert answer.json["error"] == "not_found"


def test_docs_are_off_by_default_and_served_from_the_package_when_turned_on() -> None:
    container = build_container(load_settings(environ={}, overrides=["http.docs=true"]), Telemetry.disabled("api"))
    try:
        client = create_app(container).test_client()
        page = client.get("/docs")
        assert page.status_code == 200
        assert b"/docs/assets/swagger-ui-bundle.js" in page.data
        assert b"https://" not in page.data
        assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/docs/assets/swagger-ui.css").mimetype == "text/css"
        assert client.get("/docs/assets/docs.js").status_code == 200
        assert client.get("/docs/assets/..%2fdocs.py").status_code == 404
        assert client.get("/docs/assets/swagger-ui-bundle.js.map").status_code == 404
    finally:
        container.unwire()
    assert load_settings(environ={}).http.docs() is False
