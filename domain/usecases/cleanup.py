from __future__ import annotations

from collections.abc import Callable

from domain.model.retention import Removed, Retention
from ports.clock import Clock
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

Deletion = Callable[[UnitOfWork, int], int]


class CleanUp:
    """Deletes what `retention` no longer keeps: sent outbox messages, finished requests and expired
    idempotency keys, at most `batch_size` rows per unit of work, so no transaction grows or holds
    locks for long. Rows another run holds are skipped: two runs at once delete each row once."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, batch_size: int = 1000) -> None:
        if batch_size < 1:
            raise ValueError(f"a clean-up batch deletes at least one row, got {batch_size}")
        self._uow = uow
        self._clock = clock
        self._batch_size = batch_size

    def preview(self, retention: Retention) -> Removed:
        """What a run would delete now, changing nothing."""
        now = self._clock.now()
        with self._uow() as uow:
            return Removed(
                outbox_messages=0 if retention.outbox is None else uow.outbox.count_sent_before(now - retention.outbox),
                requests=0
                if retention.requests is None
                else uow.requests.count_finished_before(now - retention.requests),
                idempotency_keys=uow.idempotency_keys.count_expired(now),
            )

    def __call__(self, retention: Retention, progress: Callable[[Removed], None] = lambda _: None) -> Removed:
        """Deletes in batches until nothing is left to delete; `progress` follows each batch."""
        now = self._clock.now()
        removed = Removed()
        if retention.outbox is not None:
            sent_before = now - retention.outbox
            removed += self._drain(lambda uow, n: uow.outbox.delete_sent_before(sent_before, n), _messages, progress)
        if retention.requests is not None:
            created_before = now - retention.requests
            removed += self._drain(
                lambda uow, n: uow.requests.delete_finished_before(created_before, n), _requests, progress
            )
        removed += self._drain(lambda uow, n: uow.idempotency_keys.purge_expired(now, n), _keys, progress)
        return removed

    def _drain(
        self, delete: Deletion, counted: Callable[[int], Removed], progress: Callable[[Removed], None]
    ) -> Removed:
        total = Removed()
        while True:
            with self._uow() as uow:
                count = delete(uow, self._batch_size)
                uow.commit()
            batch = counted(count)
            total += batch
            if count:
                progress(batch)
            if count < self._batch_size:
                return total


def _messages(count: int) -> Removed:
    return Removed(outbox_messages=count)


def _requests(count: int) -> Removed:
    return Removed(requests=count)


def _keys(count: int) -> Removed:
    return Removed(idempotency_keys=count)
