"""Fixtures for the real Postgres server: each test run gets a database of its own, migrated
once and dropped at the end; each test starts from empty tables."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from adapters.postgres.database import PooledPostgres, close_database, connect_database
from adapters.postgres.schema import migrate

ADMIN_DSN = os.environ.get("CRUNCAN_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
START_COMMAND = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
TABLES = ("request", "outbox", "idempotency_key")


def admin_connection(dsn: str = ADMIN_DSN) -> psycopg2.extensions.connection:
    connection = psycopg2.connect(dsn, connect_timeout=5)
    connection.autocommit = True
    return connection


def query(dsn: str, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of `statement`, run on a connection of its own."""
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute(statement, parameters or None)
        return cursor.fetchall()


def tables(dsn: str) -> set[str]:
    """The tables of `dsn`'s database (in the public schema)."""
    return {name for (name,) in query(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@contextmanager
def temporary_database(purpose: str) -> Iterator[str]:
    """Creates an empty database with a unique name, yields its DSN and drops it afterwards."""
    name = f"cruncan_{purpose}_{uuid.uuid4().hex[:12]}"
    with closing(admin_connection()) as admin:
        admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_dsn(ADMIN_DSN, dbname=name)
    finally:
        with closing(admin_connection()) as admin:
            admin.cursor().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of a reachable server; fails every test that needs it when there is none."""
    parameters = parse_dsn(ADMIN_DSN)
    host, port = parameters.get("host", "127.0.0.1"), int(parameters.get("port", "5432"))
    try:
        socket.create_connection((host, port), timeout=3).close()
        admin_connection().close()
    except (OSError, psycopg2.Error) as exc:
        pytest.fail(
            f"Postgres is missing: cannot reach {host}:{port} ({exc}). Start it with: {START_COMMAND}",
            pytrace=False,
        )
    return ADMIN_DSN


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A migrated database of this test run."""
    with temporary_database("test") as dsn:
        migrate(dsn)
        yield dsn


@pytest.fixture
def clean_postgres(postgres_dsn: str) -> str:
    """The test run's database with empty tables, so that each test starts afresh."""
    with closing(admin_connection(postgres_dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute("SET lock_timeout = '10s'")
        cursor.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))
    return postgres_dsn


@pytest.fixture
def database(clean_postgres: str) -> Iterator[PooledPostgres]:
    pool = connect_database(
        clean_postgres, pool_size=8, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=10_000
    )
    yield pool
    close_database(pool)


@pytest.fixture
def empty_database(postgres_server: str) -> Iterator[Callable[[], str]]:
    """Makes unmigrated databases on demand, dropped after the test, and returns their DSNs."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(temporary_database("empty"))


@pytest.fixture
def unreachable_dsn() -> str:
    """The DSN of a Postgres that is not there: a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/cruncan"


def server_connections(dsn: str, application_name: str) -> list[int]:
    """The backend PIDs of the connections to `dsn`'s database that `application_name` holds."""
    found = query(
        dsn,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        application_name,
    )
    return [pid for (pid,) in found]


def terminate(pids: list[int]) -> None:
    with closing(admin_connection()) as connection:
        cursor = connection.cursor()
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
