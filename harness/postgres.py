"""The real Postgres server: check that it is there, make and drop databases, run queries as an admin.

`CRUNCAN_TEST_POSTGRES_DSN` names the admin DSN (default: user `postgres` on 127.0.0.1:5432, trust auth).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from harness.errors import ServerUnavailable
from harness.network import free_port

ADMIN_DSN = os.environ.get("CRUNCAN_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
START_COMMAND = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
TABLES = ("request", "outbox", "idempotency_key", "dead_letter_redrive")


def require_server(dsn: str = ADMIN_DSN) -> str:
    """`dsn` if its server answers; raises `ServerUnavailable` saying how to start it otherwise."""
    parameters = parse_dsn(dsn)
    host, port = parameters.get("host", "127.0.0.1"), int(parameters.get("port", "5432"))
    try:
        socket.create_connection((host, port), timeout=3).close()
        admin_connection(dsn).close()
    except (OSError, psycopg2.Error) as exc:
        raise ServerUnavailable(
            f"Postgres is missing: cannot reach {host}:{port} ({exc}). Start it with: {START_COMMAND}"
        ) from exc
    return dsn


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


def empty_tables(dsn: str) -> None:
    """Removes every row of cruncan's tables and restarts their sequences."""
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute("SET lock_timeout = '10s'")
        cursor.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.SQL(", ").join(map(sql.Identifier, TABLES))))


def unreachable_dsn() -> str:
    """The DSN of a Postgres that is not there: a local port nothing listens on."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/cruncan"


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
