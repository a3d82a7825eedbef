import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
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


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def store():
    return InMemoryStore()


@pytest.fixture
def broker():
    return InMemoryBroker(partitions=3)


@pytest.fixture
def ingest(store, clock):
    """Ingestion on the in-memory store, the demo's adapters."""
    return IngestRequest(lambda: InMemoryUnitOfWork(store), SnowflakeIdGenerator(clock, node=3), clock)
