import logging
import os

import pytest

from adapters.memory.broker import InMemoryBroker
from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from adapters.telemetry.providers import Telemetry
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from entrypoints.api.app import create_app
from entrypoints.api.container import build_container
from entrypoints.settings import load_settings
from tests.unit.recorded_telemetry import in_memory_telemetry


@pytest.fixture
def api_container():
    container = build_container(
        load_settings(environ={}, overrides=["http.max_body_bytes=4096"]), Telemetry.disabled("cruncan-api")
    )
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


@pytest.fixture
def recorded():
    """Telemetry recorded in memory, as the API's (`cruncan-api`); shut down after the test."""
    recorded = in_memory_telemetry("cruncan-api")
    yield recorded
    recorded.telemetry.shutdown()


@pytest.fixture
def clean_environment(monkeypatch):
    """No `OTEL_*` variable set, whatever the shell has; the monkeypatch, for a test to set some."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def root_logger():
    """The root logger, its handlers and level put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def memory_telemetry():
    """Telemetry recorded in memory (`cruncan-test`); shut down after the test."""
    recorded = in_memory_telemetry()
    yield recorded
    recorded.telemetry.shutdown()
