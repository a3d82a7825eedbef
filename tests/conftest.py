"""Fixtures for the real servers the tests talk to, each wrapping the `harness` package.

A server that is missing fails every test that needs it with the harness's message, never a skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest
from hypothesis import settings as hypothesis_settings
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.database import close_database, connect_database
from adapters.postgres.schema import migrate
from harness import postgres
from harness import redis as redis_harness
from harness.errors import ServerUnavailable
from harness.kafka import fresh_topic_name
from harness.otlp import OtlpReceiver
from harness.tansu import TansuBroker, start_tansu
from harness.wiremock import WireMock, running_wiremock

# Hypothesis's per-example deadline is a timing assertion, and this project makes none outside bench/:
# on a loaded machine it fails examples that are merely slow.
hypothesis_settings.register_profile("cruncan", deadline=None)
hypothesis_settings.load_profile("cruncan")


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Turns `ServerUnavailable` into a test failure with its message alone."""
    try:
        yield
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """One Tansu broker per session; a test may stop and start it, or use `with kafka_broker.outage():`."""
    with failing_clearly():
        broker = start_tansu(tmp_path_factory.mktemp("tansu") / "broker.log")
    try:
        yield broker
    finally:
        with failing_clearly():
            broker.stop()


@pytest.fixture(autouse=True)
def _kafka_broker_running(request: pytest.FixtureRequest) -> None:
    """Any test that uses `kafka_broker` finds it running, even if an earlier test left it stopped."""
    if "kafka_broker" in request.fixturenames:
        with failing_clearly():
            request.getfixturevalue("kafka_broker").start()


@pytest.fixture
def fresh_topic() -> str:
    return fresh_topic_name()


@pytest.fixture(scope="session")
def wiremock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireMock]:
    with failing_clearly(), running_wiremock(tmp_path_factory.mktemp("wiremock")) as server:
        yield server


@pytest.fixture
def wiremock(wiremock_server: WireMock) -> WireMock:
    """The session's WireMock with its stubs, request journal and scenarios reset."""
    wiremock_server.reset()
    return wiremock_server


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of a reachable server; fails every test that needs it when there is none."""
    with failing_clearly():
        return postgres.require_server()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A migrated database of this test run."""
    with postgres.temporary_database("test") as dsn:
        migrate(dsn)
        yield dsn


@pytest.fixture
def clean_postgres(postgres_dsn: str) -> str:
    """The test run's database with empty tables, so that each test starts afresh."""
    postgres.empty_tables(postgres_dsn)
    return postgres_dsn


@pytest.fixture
def database(clean_postgres: str) -> Iterator[PooledPostgresqlDatabase]:
    pool = connect_database(
        clean_postgres, pool_size=8, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=10_000
    )
    yield pool
    close_database(pool)


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes unmigrated databases on demand, dropped after the test, and returns their DSNs."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(postgres.temporary_database("empty"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a reachable Redis; fails every test that needs it when there is none."""
    with failing_clearly():
        return redis_harness.require_server()


@pytest.fixture
def unreachable_dsn() -> str:
    return postgres.unreachable_dsn()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()
