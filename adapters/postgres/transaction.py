from __future__ import annotations

from typing import Any

import psycopg2.extensions

from adapters.postgres.database import PooledPostgres
from adapters.postgres.errors import translated_errors
from adapters.postgres.statements import Statement
from domain.model.errors import StoreUnavailable


class LazyTransaction:
    """One database transaction on a connection lent by the pool, with as few round trips as
    the work allows.

    Writes whose result nobody needs are queued and travel to the server in one message with
    the next statement that returns something (after a BEGIN, if the transaction has not begun),
    or with the commit. Writes that were only ever queued need neither BEGIN nor COMMIT: Postgres
    runs the statements of one message as one transaction, so a unit of work that only writes
    costs one round trip. A read that neither locks nor follows a write runs outside a
    transaction, which under READ COMMITTED sees the same rows. Not thread-safe: one unit of
    work, one thread at a time.
    """

    def __init__(self, database: PooledPostgres) -> None:
        self._database = database
        self._connection: psycopg2.extensions.connection | None = None
        self._queued: list[Statement] = []

    def defer(self, statement: Statement) -> None:
        self._queued.append(statement)

    def fetch(self, statement: Statement, *, locking: bool = False) -> list[tuple[Any, ...]]:
        return self._send(statement, transactional=locking or bool(self._queued)).fetchall()

    def execute(self, statement: Statement) -> int:
        """Runs a write now and returns how many rows it touched."""
        return self._send(statement, transactional=True).rowcount

    def commit(self) -> None:
        if self._in_transaction():
            self._send(("COMMIT", []), transactional=False)
        elif self._queued:
            *earlier, last = self._queued
            self._queued = earlier
            self._send(last, transactional=False)

    def rollback(self) -> None:
        """Discards queued and sent writes; never raises, as a lost connection rolls back on the server."""
        self._queued.clear()
        if self._in_transaction():
            try:
                self._send(("ROLLBACK", []), transactional=False)
            except StoreUnavailable:
                self._forget_connection()

    def release(self) -> None:
        if self._connection is not None:
            self._database.give_back(self._connection)
            self._connection = None

    def _send(self, statement: Statement, *, transactional: bool) -> psycopg2.extensions.cursor:
        connection = self._borrowed()
        begin: list[Statement] = [("BEGIN", [])] if transactional and not self._in_transaction() else []
        statements, self._queued = [*begin, *self._queued, statement], []
        sql = ";\n".join(text for text, _ in statements)
        parameters = [value for _, values in statements for value in values]
        with translated_errors():
            cursor = connection.cursor()
            cursor.execute(sql, parameters)
            return cursor

    def _borrowed(self) -> psycopg2.extensions.connection:
        if self._connection is None:
            self._connection = self._database.lend()
        return self._connection

    def _in_transaction(self) -> bool:
        return (
            self._connection is not None
            and self._connection.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE
        )

    def _forget_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self.release()
