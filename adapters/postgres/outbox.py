from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from peewee import SQL, fn

from adapters.postgres.statements import PreparedInsert, rendered
from adapters.postgres.tables import OutboxRow
from adapters.postgres.transaction import Transaction
from domain.model.message import OutboxMessage, PendingMessage
from ports.outbox import Outbox

INSERT_MESSAGE = PreparedInsert(OutboxRow.key, OutboxRow.payload, OutboxRow.headers, OutboxRow.created_at)


class PeeweeOutbox(Outbox):
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    def add(self, message: OutboxMessage) -> None:
        self._transaction.defer(
            INSERT_MESSAGE(
                key=message.key,
                payload=message.payload,
                headers=dict(message.headers),
                created_at=message.created_at,
            )
        )

    def claim_pending(self, limit: int) -> list[PendingMessage]:
        query = (
            OutboxRow.select(OutboxRow.id, OutboxRow.key, OutboxRow.payload, OutboxRow.headers, OutboxRow.created_at)
            .where(OutboxRow.sent_at.is_null())
            .order_by(OutboxRow.id)
            .limit(limit)
            .for_update(skip_locked=True)
        )
        return [
            PendingMessage(outbox_id, OutboxMessage(key, bytes(payload), created_at.astimezone(UTC), headers))
            for outbox_id, key, payload, headers, created_at in self._transaction.fetch(rendered(query), locking=True)
        ]

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        ids = list(outbox_ids)
        if ids:
            self._transaction.defer(rendered(OutboxRow.update(sent_at=at).where(OutboxRow.id.in_(ids))))

    def backlog(self) -> int:
        unsent = OutboxRow.select(fn.COUNT(SQL("*"))).where(OutboxRow.sent_at.is_null())
        rows = self._transaction.fetch(rendered(unsent))
        return int(rows[0][0])
