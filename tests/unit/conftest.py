import pytest

from entrypoints.api.app import create_app
from entrypoints.api.main import build_container
from entrypoints.settings import load_settings


@pytest.fixture
def api_container():
    container = build_container(load_settings(environ={}, overrides=["http.max_body_bytes=4096"]))
    yield container
    container.unwire()


@pytest.fixture
def client(api_container):
    return create_app(api_container).test_client()
