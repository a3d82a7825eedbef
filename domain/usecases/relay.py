from __future__ import annotations

from dataclasses import dataclass

from domain.model.request import RequestStatus
from ports.clock import Clock
from ports.publisher import Publisher
from ports.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True)
class RelayPass:
    claimed: int
    delivered: int

    @property
    def undelivered(self) -> int:
        return self.claimed - self.delivered


class RelayOutbox:
    """One pass of the transactional outbox: claim a batch, publish it, mark what the
    broker confirmed. A crash before the commit leaves the batch pending, so it is
    published again: duplicates are possible, losses are not."""

    def __init__(self, uow: UnitOfWorkFactory, publisher: Publisher, clock: Clock, batch_size: int = 100) -> None:
        self._uow = uow
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __call__(self) -> RelayPass:
        with self._uow() as uow:
            pending = uow.outbox.claim_pending(self._batch_size)
            if not pending:
                return RelayPass(0, 0)
            delivered = self._publisher.publish(pending)
            if delivered:
                now = self._clock.now()
                uow.outbox.mark_sent(delivered, now)
                keys = [p.message.key for p in pending if p.outbox_id in delivered]
                uow.requests.record_status(keys, RequestStatus.PUBLISHED, now)
            uow.commit()
        return RelayPass(len(pending), len(delivered))
