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
# The oldest unsent message of each key that no other relay holds. A key's newer message waits while an
# older one is unsent, even if another relay holds that one: a key's messages are published in order.
CLAIM_OLDEST_OF_EACH_KEY = """
    SELECT id, key, payload, headers, created_at FROM outbox
    WHERE sent_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS older WHERE older.key = outbox.key AND older.sent_at IS NULL AND older.id < outbox.id
      )
    ORDER BY id
    LIMIT %s
    FOR UPDATE SKIP LOCKED"""
MARK_SENT = "UPDATE outbox SET sent_at = %s WHERE id = ANY(%s)"
COUNT_SENT_BEFORE = "SELECT count(*) FROM outbox WHERE sent_at < %s"
DELETE_SENT_BEFORE = """
    DELETE FROM outbox WHERE id = ANY(ARRAY(
        SELECT id FROM outbox WHERE sent_at < %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
    ))"""


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
        rows = self._transaction.fetch((CLAIM_OLDEST_OF_EACH_KEY, [limit]), locking=True)
        return [
            PendingMessage(outbox_id, OutboxMessage(key, bytes(payload), created_at.astimezone(UTC), headers))
            for outbox_id, key, payload, headers, created_at in rows
        ]

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        ids = list(outbox_ids)
        if ids:
            self._transaction.defer((MARK_SENT, [at, ids]))

    def backlog(self) -> int:
        unsent = OutboxRow.select(fn.COUNT(SQL("*"))).where(OutboxRow.sent_at.is_null())
        rows = self._transaction.fetch(rendered(unsent))
        return int(rows[0][0])

    def count_sent_before(self, cutoff: datetime) -> int:
        [(count,)] = self._transaction.fetch((COUNT_SENT_BEFORE, [cutoff]))
        return int(count)

    def delete_sent_before(self, cutoff: datetime, limit: int) -> int:
        return self._transaction.execute((DELETE_SENT_BEFORE, [cutoff, limit]))
