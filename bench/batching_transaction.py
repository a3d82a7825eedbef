"""The batching transaction, kept for `bench.wrk_unit_of_work` to measure against `LazyTransaction`."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.errors import translated_errors
from adapters.postgres.statements import Statement
from adapters.postgres.transaction import Transaction
from domain.model.errors import StoreUnavailable


class BatchingTransaction(Transaction):
    """One database transaction on the pooled connection peewee lends the calling thread, sent
    with peewee's `execute_sql` in as few round trips as the work allows: the alternative to
    `LazyTransaction` that `bench.wrk_unit_of_work` measures (cruncan ran it until the benchmark
    found no gain from it).

    Writes whose result nobody needs are queued and travel to the server in one message with
    the next statement that returns something (after a BEGIN, if the transaction has not begun),
    or with the commit. Writes that were only ever queued need neither BEGIN nor COMMIT: Postgres
    runs the statements of one message as one transaction, so a unit of work that only writes
    costs one round trip. A read that neither locks nor follows a write runs outside a
    transaction, which under READ COMMITTED sees the same rows. One thread, one open
    transaction: peewee binds the connection to the thread that borrowed it.
    """

    def __init__(self, database: PooledPostgresqlDatabase) -> None:
        self._database = database
        self._connected = False
        self._begun = False
        self._queued: list[Statement] = []

    def defer(self, statement: Statement) -> None:
        self._queued.append(statement)

    def fetch(self, statement: Statement, *, locking: bool = False) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._send(statement, transactional=locking or bool(self._queued)).fetchall()
        return rows

    def execute(self, statement: Statement) -> int:
        """Runs a write now and returns how many rows it touched."""
        return int(self._send(statement, transactional=True).rowcount)

    def commit(self) -> None:
        if self._begun:
            self._send(("COMMIT", []), transactional=False)
            self._begun = False
        elif self._queued:
            *earlier, last = self._queued
            self._queued = earlier
            self._send(last, transactional=False)

    def rollback(self) -> None:
        """Discards queued and sent writes; never raises, as a lost connection rolls back on the server."""
        self._queued.clear()
        if self._begun:
            self._begun = False
            try:
                self._send(("ROLLBACK", []), transactional=False)
            except StoreUnavailable:
                self._database.manual_close()
                self._connected = False

    def release(self) -> None:
        """Gives the connection back to the pool, which rolls back or discards one left unusable."""
        if self._connected:
            self._connected = False
            self._database.close()

    def _send(self, statement: Statement, *, transactional: bool) -> psycopg2.extensions.cursor:
        self._connect()
        begin: list[Statement] = [("BEGIN", [])] if transactional and not self._begun else []
        self._begun = self._begun or bool(begin)
        statements, self._queued = [*begin, *self._queued, statement], []
        sql = ";\n".join(text for text, _ in statements)
        parameters = [value for _, values in statements for value in values]
        with translated_errors():
            cursor: psycopg2.extensions.cursor = self._database.execute_sql(sql, parameters)
            return cursor

    def _connect(self) -> None:
        if self._connected:
            return
        if not self._database.is_closed():
            raise RuntimeError("this thread already holds a pooled connection: one unit of work at a time per thread")
        with translated_errors():
            self._database.connect()
        self._connected = True
