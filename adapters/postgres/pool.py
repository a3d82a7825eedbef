"""What cruncan needs from peewee's connection pool beyond what peewee documents, in one place.

peewee's pool checks an idle Postgres connection with `SELECT 1` before lending it, under the lock that
every check-out and check-in takes: a round trip (and a span) per unit of work, which threads queue
behind. Here an idle connection is lent at once, and a connection the server closed while it sat in the
pool is found by the first statement sent on it instead (`on_borrowed`). peewee offers no setting for
this; `_is_closed` is the hook its pool asks, and tests/integration/test_postgres_pool.py fails if an
upgrade stops asking it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from playhouse.pool import PooledPostgresqlDatabase
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from adapters.postgres.errors import translated_errors
from domain.model.errors import StoreUnavailable

T = TypeVar("T")


class PostgresPool(PooledPostgresqlDatabase):  # type: ignore[misc]
    """peewee's pool of psycopg2 connections, lending an idle connection without a round trip."""

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed:
            return True
        if conn.info.transaction_status == TRANSACTION_STATUS_IDLE:
            return False
        # Left inside a transaction, or in an unknown state: peewee rolls it back or discards it.
        return bool(super()._is_closed(conn))


def on_borrowed(database: PooledPostgresqlDatabase, statement: Callable[[], T]) -> T:
    """`statement()`, the first one sent on the connection the calling thread has just borrowed. If it
    fails because that connection is closed (the server dropped it while it was idle in the pool), nothing
    was done on it: it is discarded, with the other idle connections (a server restart closes them all),
    and `statement` runs once more on a connection opened for it. Errors come as `translated_errors` says."""
    try:
        with translated_errors():
            return statement()
    except StoreUnavailable:
        if database.is_closed() or not database.connection().closed:
            raise
    database.manual_close()
    database.close_idle()
    with translated_errors():
        database.connect()
        return statement()
