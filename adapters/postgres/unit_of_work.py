from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.idempotency import PeeweeIdempotencyKeys
from adapters.postgres.outbox import PeeweeOutbox
from adapters.postgres.redriven_letters import PeeweeRedrivenLetters
from adapters.postgres.repository import PeeweeRequestRepository
from adapters.postgres.transaction import LazyTransaction, Transaction
from ports.unit_of_work import UnitOfWork


class PeeweeUnitOfWork(UnitOfWork):
    """One Postgres transaction on the pooled connection peewee lends the calling thread; it is
    borrowed at the first statement and given back when the block exits."""

    def __init__(
        self,
        database: PooledPostgresqlDatabase,
        transaction: Callable[[PooledPostgresqlDatabase], Transaction] = LazyTransaction,
    ) -> None:
        self._transaction = transaction(database)
        self.requests = PeeweeRequestRepository(self._transaction)
        self.outbox = PeeweeOutbox(self._transaction)
        self.idempotency_keys = PeeweeIdempotencyKeys(self._transaction)
        self.redriven_letters = PeeweeRedrivenLetters(self._transaction)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            self._transaction.release()

    def commit(self) -> None:
        self._transaction.commit()

    def rollback(self) -> None:
        self._transaction.rollback()
