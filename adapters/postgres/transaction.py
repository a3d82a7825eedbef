from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, Protocol, TypeVar

import psycopg2.extensions
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.errors import translated_errors
from adapters.postgres.pool import on_borrowed
from adapters.postgres.statements import Statement
from domain.model.errors import StoreUnavailable

T = TypeVar("T")


class Transaction(Protocol):
    """What the Postgres repositories need of a unit of work's transaction."""

    def defer(self, statement: Statement) -> None:
        """A write whose result is not needed: sent now, or at the latest with the commit."""

    def fetch(self, statement: Statement, *, locking: bool = False) -> list[tuple[Any, ...]]: ...

    def execute(self, statement: Statement) -> int:
        """Runs a write now and returns how many rows it touched."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def release(self) -> None: ...


class _Discarded(Exception):
    """Handed to `atomic()`'s exit so that it rolls back: the unit ended without `commit()`."""


class LazyTransaction(Transaction):
    """One transaction inside peewee's `atomic()` on the pooled connection peewee lends the
    calling thread; each statement goes to the server through `execute_sql` when it is made.

    The connection is borrowed at the first statement and `atomic()` begins at the first write or
    locking read, so a read alone runs without BEGIN and COMMIT (under READ COMMITTED it sees the
    same rows). The first statement on a borrowed connection goes through `on_borrowed`, which
    replaces a connection the server closed while it was idle. One thread, one open transaction:
    peewee binds the connection to the thread.
    """

    def __init__(self, database: PooledPostgresqlDatabase) -> None:
        self._database = database
        self._connected = False
        self._proven = False  # a statement has gone through on the borrowed connection
        self._atomic: ExitStack | None = None

    def defer(self, statement: Statement) -> None:
        self.execute(statement)

    def fetch(self, statement: Statement, *, locking: bool = False) -> list[tuple[Any, ...]]:
        if locking:
            self._begin()
        rows: list[tuple[Any, ...]] = self._send(statement).fetchall()
        return rows

    def execute(self, statement: Statement) -> int:
        self._begin()
        return int(self._send(statement).rowcount)

    def commit(self) -> None:
        self._end(keep=True)

    def rollback(self) -> None:
        """Discards what the transaction wrote; never raises, as a lost connection rolls back on the server."""
        try:
            self._end(keep=False)
        except StoreUnavailable:
            self._database.manual_close()
            self._connected = False

    def release(self) -> None:
        """Gives the connection back to the pool, which rolls back or discards one left unusable."""
        if self._connected:
            self._connected = False
            self._database.close()

    def _begin(self) -> None:
        if self._atomic is None:
            self._atomic = self._on_connection(self._enter_atomic)

    def _enter_atomic(self) -> ExitStack:
        atomic = ExitStack()
        atomic.enter_context(self._database.atomic())
        return atomic

    def _end(self, *, keep: bool) -> None:
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return
        with translated_errors():
            if keep:
                atomic.close()
            else:
                atomic.__exit__(_Discarded, _Discarded(), None)

    def _send(self, statement: Statement) -> psycopg2.extensions.cursor:
        sql, parameters = statement
        cursor: psycopg2.extensions.cursor = self._on_connection(lambda: self._database.execute_sql(sql, parameters))
        return cursor

    def _on_connection(self, call: Callable[[], T]) -> T:
        """`call()` on the connection this transaction holds, borrowing one first if need be."""
        self._connect()
        if self._proven:
            with translated_errors():
                return call()
        result = on_borrowed(self._database, call)
        self._proven = True
        return result

    def _connect(self) -> None:
        if self._connected:
            return
        if not self._database.is_closed():
            raise RuntimeError("this thread already holds a pooled connection: one unit of work at a time per thread")
        with translated_errors():
            self._database.connect()
        self._connected = True
        self._proven = False
