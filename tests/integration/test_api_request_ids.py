"""`GET /one/<id>` through the Flask app on Postgres: what cannot be a request ID never reaches the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from adapters.telemetry.providers import Telemetry
from entrypoints.api.app import create_app
from entrypoints.api.container import build_container
from entrypoints.settings import load_settings

pytestmark = pytest.mark.postgres

NOT_IDS = [
    "%00",
    "0000000000000000000%00",
    "1234",
    "000000000000000000001",
    "0000000000000000000a",
    "%D9%A1" * 20,
    "x" * 10_000,
    "%27%3B%20DROP%20TABLE%20request%3B--",
]


@pytest.fixture
def api_on() -> Iterator[Callable[[str], FlaskClient]]:
    """Makes test clients of the API on Postgres at a DSN; their pools are closed after the test."""
    containers = []

    def client(dsn: str) -> FlaskClient:
        settings = load_settings(environ={}, overrides=["storage.backend=postgres", f"storage.postgres.dsn={dsn}"])
        containers.append(build_container(settings, Telemetry.disabled("cruncan-api")))
        return create_app(containers[-1]).test_client()

    yield client
    for container in containers:
        container.shutdown_resources()
        container.unwire()


@pytest.mark.parametrize("path_id", NOT_IDS)
def test_an_id_that_cannot_be_a_request_id_is_a_404(api_on: Callable[[str], FlaskClient], clean_postgres: str, path_id):
    response = api_on(clean_postgres).get(f"/one/{path_id}")

    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.json == {
        "error": "not_found",
        "detail": "no request has this id: a request id is 20 decimal digits",
    }


@pytest.mark.parametrize("path_id", NOT_IDS[:3])
def test_an_id_that_cannot_be_a_request_id_never_reaches_the_store(
    api_on: Callable[[str], FlaskClient], unreachable_dsn: str, path_id
):
    client = api_on(unreachable_dsn)

    assert client.get(f"/one/{path_id}").status_code == 404
    assert client.get("/one/00000000000000000001").status_code == 503


def test_a_well_formed_unknown_id_is_a_404_naming_it(api_on: Callable[[str], FlaskClient], clean_postgres: str):
    response = api_on(clean_postgres).get("/one/00000000000000000001")

    assert response.status_code == 404
    assert response.json == {"error": "not_found", "detail": "no request with id '00000000000000000001'"}
