from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from adapters.postgres.statements import PreparedInsert, rendered
from adapters.postgres.tables import RequestRow
from adapters.postgres.transaction import Transaction
from domain.model.request import DataItem, OneRequest, RequestStatus, StoredRequest
from ports.repository import RequestRepository

INSERT_REQUEST = PreparedInsert(
    RequestRow.req_id,
    RequestRow.user_id,
    RequestRow.created_at,
    RequestRow.updated_at,
    RequestRow.req,
    RequestRow.status,
    RequestRow.failure_reason,
    RequestRow.submitted_by,
)
_COLUMNS = (
    RequestRow.req_id,
    RequestRow.req,
    RequestRow.status,
    RequestRow.created_at,
    RequestRow.updated_at,
    RequestRow.failure_reason,
    RequestRow.submitted_by,
)


class PeeweeRequestRepository(RequestRepository):
    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction

    def add(self, request: StoredRequest) -> None:
        self._transaction.defer(
            INSERT_REQUEST(
                req_id=request.request_id,
                user_id=request.body.user_id,
                created_at=request.created_at,
                updated_at=request.updated_at,
                req=request.body.to_json(),
                status=request.status.value,
                failure_reason=request.failure_reason,
                submitted_by=request.submitted_by,
            )
        )

    def get(self, request_id: str) -> StoredRequest | None:
        rows = self._transaction.fetch(rendered(RequestRow.select(*_COLUMNS).where(RequestRow.req_id == request_id)))
        return _stored_request(rows[0]) if rows else None

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
        return self._transaction.execute(rendered(update))

    def recent(self, limit: int) -> list[StoredRequest]:
        newest = (
            RequestRow.select(*_COLUMNS)
            .order_by(RequestRow.created_at.desc(), RequestRow.req_id.desc())
            .limit(max(limit, 0))
        )
        return [_stored_request(row) for row in self._transaction.fetch(rendered(newest))]


def _stored_request(row: tuple[Any, ...]) -> StoredRequest:
    request_id, body, status, created_at, updated_at, failure_reason, submitted_by = row
    return StoredRequest(
        request_id=request_id,
        body=OneRequest(
            user_id=body["user_id"],
            prompt=body["prompt"],
            data=tuple(DataItem(item["key"], item["value"]) for item in body["data"]),
        ),
        status=RequestStatus(status),
        created_at=created_at.astimezone(UTC),
        updated_at=updated_at.astimezone(UTC),
        failure_reason=failure_reason,
        submitted_by=submitted_by,
    )
