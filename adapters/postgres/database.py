"""The pooled peewee database every Postgres adapter shares."""

from __future__ import annotations

import math
import time
from typing import Any

import psycopg2
import psycopg2.extensions
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase
from psycopg2.extensions import parse_dsn

from adapters.postgres.errors import translated_errors
from domain.model.errors import StoreUnavailable

APPLICATION_NAME = "cruncan"


class PooledPostgres(PooledPostgresqlDatabase):  # type: ignore[misc]
    """peewee's pool of autocommit psycopg2 connections, which also lends a connection to
    one caller at a time (`lend`/`give_back`) so that each unit of work owns its transaction
    whatever thread it runs on.

    peewee checks an idle connection with a round trip before handing it out; this pool skips
    that check for a connection given back less than `ping_after_s` ago, so a busy service
    pays no extra round trip while one that sat idle still gets a connection that works.
    """

    def __init__(self, database: str, *, ping_after_s: float = 1.0, **kwargs: Any) -> None:
        self._ping_after_s = ping_after_s
        self._given_back_at: dict[int, float] = {}
        super().__init__(database, **kwargs)

    def lend(self) -> psycopg2.extensions.connection:
        """A connection for the caller alone, waiting up to the pool's timeout for a busy pool."""
        deadline = time.monotonic() + (self._wait_timeout or 0)
        with translated_errors():
            while True:
                try:
                    connection: psycopg2.extensions.connection = self._connect()
                    return connection
                except MaxConnectionsExceeded:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StoreUnavailable(f"all {self._max_connections} postgres connections are busy") from None
                    with self._pool_available:
                        self._pool_available.wait(min(remaining, 1.0))

    def give_back(self, connection: psycopg2.extensions.connection) -> None:
        """Returns `connection` to the pool; one left in a transaction is rolled back, a broken one closed."""
        self._close(connection)

    def _is_closed(self, connection: psycopg2.extensions.connection) -> bool:
        given_back_at = self._given_back_at.get(self.conn_key(connection))
        if connection.closed or given_back_at is None or time.monotonic() - given_back_at >= self._ping_after_s:
            return bool(super()._is_closed(connection))
        return False

    def _close(self, connection: psycopg2.extensions.connection, close_conn: bool = False) -> None:
        self._given_back_at[self.conn_key(connection)] = time.monotonic()
        super()._close(connection, close_conn)

    def _close_raw(self, connection: psycopg2.extensions.connection) -> None:
        self._given_back_at.pop(self.conn_key(connection), None)
        super()._close_raw(connection)


def connect_database(
    dsn: str,
    pool_size: int,
    connect_timeout_s: float,
    stale_timeout_s: float,
    statement_timeout_ms: int,
    *,
    ping_after_s: float = 1.0,
) -> PooledPostgres:
    """A pool for `dsn` that opens no connection until one is needed, so a service can start
    (and answer 503) while Postgres is down. `connect_timeout_s` bounds both opening a
    connection and waiting for a busy pool to free one."""
    if pool_size < 1 or connect_timeout_s <= 0:
        raise ValueError("pool_size must be at least 1 and connect_timeout_s positive")
    try:
        parameters = parse_dsn(dsn)
    except psycopg2.ProgrammingError as exc:
        raise ValueError(f"the postgres DSN is malformed: {exc}") from None
    if not parameters.get("dbname"):
        raise ValueError(f"the postgres DSN must name a database: {_redacted(parameters)}")
    options = f"-c statement_timeout={statement_timeout_ms} -c TimeZone=UTC"
    return PooledPostgres(
        parameters["dbname"],
        dsn=dsn,
        max_connections=pool_size,
        stale_timeout=stale_timeout_s,
        timeout=connect_timeout_s,
        connect_timeout=max(2, math.ceil(connect_timeout_s)),
        options=" ".join(filter(None, [parameters.get("options"), options])),
        application_name=parameters.get("application_name", APPLICATION_NAME),
        ping_after_s=ping_after_s,
    )


def close_database(database: PooledPostgres) -> None:
    """Closes every pooled connection; the pool may still open new ones afterwards."""
    database.close_all()


def _redacted(parameters: dict[str, str]) -> str:
    return " ".join(f"{key}={'***' if key == 'password' else value}" for key, value in parameters.items())
