"""A unit of work written as peewee's documentation shows it, to measure the batching one against.

Every statement is a peewee model query run at once on the thread's pooled connection, inside
`database.atomic()`: a unit that stores a request costs BEGIN, INSERT, INSERT and COMMIT, one
round trip each (plus the pool's check of an idle connection, as in the batching one).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from peewee import SQL, fn
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.errors import translated_errors
from adapters.postgres.tables import OutboxRow, RequestRow
from domain.model.message import OutboxMessage, PendingMessage
from domain.model.request import DataItem, OneRequest, RequestStatus, StoredRequest


class _Discarded(Exception):
    """Handed to `atomic()`'s exit so that it rolls back: the unit ended without `commit()`."""


class PeeweeAtomicTransaction:
    """`database.atomic()` entered at the first statement and left by `commit()` or `rollback()`."""

    def __init__(self, database: PooledPostgresqlDatabase) -> None:
        self.database = database
        self._open: ExitStack | None = None

    def run(self, query: Any) -> Any:
        if self._open is None:
            opened = ExitStack()
            try:
                with translated_errors():
                    opened.enter_context(self.database.connection_context())
                    opened.enter_context(self.database.atomic())
            except BaseException:
                opened.close()
                raise
            self._open = opened
        with translated_errors():
            return query.execute(self.database)

    def end(self, *, keep: bool) -> None:
        opened, self._open = self._open, None
        if opened is None:
            return
        with translated_errors():
            if keep:
                opened.close()
            else:
                opened.__exit__(_Discarded, _Discarded(), None)


class PeeweeAtomicRequests:
    def __init__(self, transaction: PeeweeAtomicTransaction) -> None:
        self._transaction = transaction

    def add(self, request: StoredRequest) -> None:
        self._transaction.run(
            RequestRow.insert(
                req_id=request.request_id,
                user_id=request.body.user_id,
                created_at=request.created_at,
                updated_at=request.updated_at,
                req=request.body.to_json(),
                status=request.status.value,
                failure_reason=request.failure_reason,
            )
        )

    def get(self, request_id: str) -> StoredRequest | None:
        rows = list(self._transaction.run(RequestRow.select().where(RequestRow.req_id == request_id).dicts()))
        if not rows:
            return None
        row, body = rows[0], rows[0]["req"]
        return StoredRequest(
            request_id=row["req_id"],
            body=OneRequest(
                body["user_id"], body["prompt"], tuple(DataItem(d["key"], d["value"]) for d in body["data"])
            ),
            status=RequestStatus(row["status"]),
            created_at=row["created_at"].astimezone(UTC),
            updated_at=row["updated_at"].astimezone(UTC),
            failure_reason=row["failure_reason"],
        )

    def record_status(
        self, request_ids: Iterable[str], status: RequestStatus, at: datetime, reason: str | None = None
    ) -> int:
        ids = list(request_ids)
        if not ids or not status.predecessors:
            return 0
        update = RequestRow.update(status=status.value, updated_at=at, failure_reason=reason).where(
            RequestRow.req_id.in_(ids),
            RequestRow.status.in_(sorted(predecessor.value for predecessor in status.predecessors)),
        )
        return int(self._transaction.run(update))


class PeeweeAtomicOutbox:
    def __init__(self, transaction: PeeweeAtomicTransaction) -> None:
        self._transaction = transaction

    def add(self, message: OutboxMessage) -> None:
        self._transaction.run(
            OutboxRow.insert(
                key=message.key, payload=message.payload, headers=dict(message.headers), created_at=message.created_at
            )
        )

    def claim_pending(self, limit: int) -> list[PendingMessage]:
        query = (
            OutboxRow.select()
            .where(OutboxRow.sent_at.is_null())
            .order_by(OutboxRow.id)
            .limit(limit)
            .for_update(skip_locked=True)
            .dicts()
        )
        return [
            PendingMessage(
                row["id"],
                OutboxMessage(row["key"], bytes(row["payload"]), row["created_at"].astimezone(UTC), row["headers"]),
            )
            for row in self._transaction.run(query)
        ]

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        ids = list(outbox_ids)
        if ids:
            self._transaction.run(OutboxRow.update(sent_at=at).where(OutboxRow.id.in_(ids)))

    def backlog(self) -> int:
        query = OutboxRow.select(fn.COUNT(SQL("*")).alias("n")).where(OutboxRow.sent_at.is_null()).dicts()
        return int(next(iter(self._transaction.run(query)))["n"])


class PeeweeAtomicUnitOfWork:
    """A `UnitOfWork` of peewee model queries inside `atomic()`: nothing is kept without `commit()`."""

    def __init__(self, database: PooledPostgresqlDatabase) -> None:
        self._transaction = PeeweeAtomicTransaction(database)
        self.requests = PeeweeAtomicRequests(self._transaction)
        self.outbox = PeeweeAtomicOutbox(self._transaction)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._transaction.end(keep=False)

    def commit(self) -> None:
        self._transaction.end(keep=True)

    def rollback(self) -> None:
        self._transaction.end(keep=False)
