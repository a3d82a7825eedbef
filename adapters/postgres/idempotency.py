from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.postgres.statements import PreparedInsert, rendered
from adapters.postgres.tables import IdempotencyKeyRow
from adapters.postgres.transaction import Transaction
from domain.model.errors import IdempotencyKeyInUse
from domain.model.idempotency import IdempotencyRecord
from ports.idempotency import IdempotencyKeys

INSERT_KEY = PreparedInsert(
    IdempotencyKeyRow.key,
    IdempotencyKeyRow.fingerprint,
    IdempotencyKeyRow.req_id,
    IdempotencyKeyRow.created_at,
    IdempotencyKeyRow.expires_at,
)
# A transaction-scoped advisory lock on the key's 64-bit hash holds the key until the transaction
# ends; `try` answers at once, so a request that finds its key held is refused instead of queued.
TRY_HOLD_KEY = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"
COUNT_EXPIRED = "SELECT count(*) FROM idempotency_key WHERE expires_at <= %s"
PURGE_EXPIRED_BATCH = """
    DELETE FROM idempotency_key WHERE key = ANY(ARRAY(
        SELECT key FROM idempotency_key WHERE expires_at <= %s ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED
    ))"""


class PeeweeIdempotencyKeys(IdempotencyKeys):
    """Keys in the `idempotency_key` table. `claim` reads a stored key without holding it (retries only
    read); it holds an absent or expired one with an advisory lock that the transaction keeps."""

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None:
        stored = self._stored(key)
        if stored is not None and not stored.expired(now):
            return stored
        [(held,)] = self._transaction.fetch((TRY_HOLD_KEY, [key]), locking=True)
        if not held:
            raise IdempotencyKeyInUse(f"another request holds the idempotency key ({len(key)} characters)")
        self._transaction.defer(
            rendered(
                IdempotencyKeyRow.delete().where(IdempotencyKeyRow.key == key, IdempotencyKeyRow.expires_at <= now)
            )
        )
        return self._stored(key, locking=True)

    def add(self, record: IdempotencyRecord) -> None:
        self._transaction.defer(
            INSERT_KEY(
                key=record.key,
                fingerprint=record.fingerprint,
                req_id=record.request_id,
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        if limit is None:
            return self._transaction.execute(
                rendered(IdempotencyKeyRow.delete().where(IdempotencyKeyRow.expires_at <= now))
            )
        return self._transaction.execute((PURGE_EXPIRED_BATCH, [now, limit]))

    def count_expired(self, now: datetime) -> int:
        [(count,)] = self._transaction.fetch((COUNT_EXPIRED, [now]))
        return int(count)

    def _stored(self, key: str, *, locking: bool = False) -> IdempotencyRecord | None:
        rows = self._transaction.fetch(
            rendered(IdempotencyKeyRow.select(*_COLUMNS).where(IdempotencyKeyRow.key == key)), locking=locking
        )
        return _record(rows[0]) if rows else None


_COLUMNS = (
    IdempotencyKeyRow.key,
    IdempotencyKeyRow.fingerprint,
    IdempotencyKeyRow.req_id,
    IdempotencyKeyRow.created_at,
    IdempotencyKeyRow.expires_at,
)


def _record(row: tuple[Any, ...]) -> IdempotencyRecord:
    key, fingerprint, request_id, created_at, expires_at = row
    return IdempotencyRecord(
        key=key,
        fingerprint=fingerprint,
        request_id=request_id,
        created_at=created_at.astimezone(UTC),
        expires_at=expires_at.astimezone(UTC),
    )
