"""The pooled peewee database every Postgres adapter shares: peewee's own pool, configured
through its documented constructor options."""

from __future__ import annotations

import math

import psycopg2
from playhouse.pool import PooledPostgresqlDatabase
from psycopg2.extensions import parse_dsn

from adapters.postgres.pool import PostgresPool

APPLICATION_NAME = "cruncan"


def connect_database(
    dsn: str,
    pool_size: int,
    connect_timeout_s: float,
    stale_timeout_s: float,
    statement_timeout_ms: int,
) -> PooledPostgresqlDatabase:
    """peewee's pool of autocommit psycopg2 connections for `dsn`, one per thread that asks.

    It opens no connection until one is needed, so a service can start (and answer 503) while
    Postgres is down; it lends an idle connection again without a round trip (`PostgresPool`).
    `connect_timeout_s` bounds both opening a connection and waiting for a busy pool to free one.
    """
    if pool_size < 1 or connect_timeout_s <= 0:
        raise ValueError("pool_size must be at least 1 and connect_timeout_s positive")
    try:
        parameters = parse_dsn(dsn)
    except psycopg2.ProgrammingError as exc:
        raise ValueError(f"the postgres DSN is malformed: {exc}") from None
    if not parameters.get("dbname"):
        raise ValueError(f"the postgres DSN must name a database: {_redacted(parameters)}")
    options = f"-c statement_timeout={statement_timeout_ms} -c TimeZone=UTC"
    return PostgresPool(
        parameters["dbname"],
        dsn=dsn,
        max_connections=pool_size,
        stale_timeout=stale_timeout_s,
        timeout=connect_timeout_s,
        connect_timeout=max(2, math.ceil(connect_timeout_s)),
        options=" ".join(filter(None, [parameters.get("options"), options])),
        application_name=parameters.get("application_name", APPLICATION_NAME),
    )


def close_database(database: PooledPostgresqlDatabase) -> None:
    """Closes every pooled connection; the pool may still open new ones afterwards."""
    database.close_all()


def _redacted(parameters: dict[str, str]) -> str:
    return " ".join(f"{key}={'***' if key == 'password' else value}" for key, value in parameters.items())
