"""Tracing decorators around the storage ports, so that use cases hold no telemetry code."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Self

from opentelemetry.semconv._incubating.attributes.db_attributes import DB_RESPONSE_RETURNED_ROWS
from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from adapters.telemetry.providers import Telemetry
from domain.model.idempotency import IdempotencyRecord
from domain.model.message import OutboxMessage, PendingMessage
from domain.model.redrive import RedriveSelection
from domain.model.request import RequestStatus, StoredRequest
from ports.idempotency import IdempotencyKeys
from ports.outbox import Outbox
from ports.repository import RequestRepository
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

REQUEST_ID = "cruncan.request.id"
REQUEST_STATUS = "cruncan.request.status"
REQUEST_TABLE = "request"
OUTBOX_TABLE = "outbox"
IDEMPOTENCY_KEY_TABLE = "idempotency_key"


class _PortSpans:
    """INTERNAL spans named after the port method, carrying the `db.*` attributes of what it does."""

    def __init__(self, tracer: Tracer, db_system: str, db_namespace: str | None) -> None:
        self._tracer = tracer
        self._common: dict[str, AttributeValue] = {DB_SYSTEM_NAME: db_system}
        if db_namespace:
            self._common[DB_NAMESPACE] = db_namespace

    @contextmanager
    def __call__(
        self, name: str, operation: str, collection: str | None = None, **attributes: AttributeValue
    ) -> Iterator[Span]:
        span_attributes = {**self._common, DB_OPERATION_NAME: operation, **attributes}
        if collection:
            span_attributes[DB_COLLECTION_NAME] = collection
        with self._tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, attributes=span_attributes) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
                raise


class TracingRequestRepository(RequestRepository):
    def __init__(
        self, inner: RequestRepository, telemetry: Telemetry, *, db_system: str, db_namespace: str | None = None
    ) -> None:
        self._inner = inner
        self._spans = _PortSpans(telemetry.tracer(), db_system, db_namespace)

    def add(self, request: StoredRequest) -> None:
        with self._spans("RequestRepository.add", "INSERT", REQUEST_TABLE, **{REQUEST_ID: request.request_id}):
            self._inner.add(request)

    def get(self, request_id: str) -> StoredRequest | None:
        with self._spans("RequestRepository.get", "SELECT", REQUEST_TABLE, **{REQUEST_ID: request_id}) as span:
            found = self._inner.get(request_id)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, 0 if found is None else 1)
            return found

    def record_status(
        self, request_ids: Iterable[str], status: RequestStatus, at: datetime, reason: str | None = None
    ) -> int:
        with self._spans("RequestRepository.record_status", "UPDATE", REQUEST_TABLE, **{REQUEST_STATUS: status.value}):
            return self._inner.record_status(request_ids, status, at, reason)

    def recent(self, limit: int) -> list[StoredRequest]:
        with self._spans("RequestRepository.recent", "SELECT", REQUEST_TABLE) as span:
            found = self._inner.recent(limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, len(found))
            return found

    def failed(self, selection: RedriveSelection, limit: int) -> list[StoredRequest]:
        with self._spans("RequestRepository.failed", "SELECT", REQUEST_TABLE) as span:
            found = self._inner.failed(selection, limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, len(found))
            return found

    def redrive(self, selection: RedriveSelection, limit: int, at: datetime) -> list[StoredRequest]:
        with self._spans("RequestRepository.redrive", "UPDATE", REQUEST_TABLE) as span:
            moved = self._inner.redrive(selection, limit, at)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, len(moved))
            return moved

    def count_finished_before(self, cutoff: datetime) -> int:
        with self._spans("RequestRepository.count_finished_before", "SELECT", REQUEST_TABLE):
            return self._inner.count_finished_before(cutoff)

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        with self._spans("RequestRepository.delete_finished_before", "DELETE", REQUEST_TABLE) as span:
            deleted = self._inner.delete_finished_before(cutoff, limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, deleted)
            return deleted


class TracingOutbox(Outbox):
    """Stores the trace context current at `add` in the message headers (W3C `traceparent`,
    `tracestate`, `baggage`), so that whoever publishes the message later continues the trace."""

    def __init__(
        self,
        inner: Outbox,
        telemetry: Telemetry,
        *,
        db_system: str,
        db_namespace: str | None = None,
    ) -> None:
        self._inner = inner
        self._propagator = telemetry.propagator
        self._spans = _PortSpans(telemetry.tracer(), db_system, db_namespace)

    def add(self, message: OutboxMessage) -> None:
        headers = dict(message.headers)
        self._propagator.inject(headers)
        with self._spans("Outbox.add", "INSERT", OUTBOX_TABLE):
            self._inner.add(replace(message, headers=headers))

    def claim_pending(self, limit: int) -> list[PendingMessage]:
        with self._spans("Outbox.claim_pending", "SELECT", OUTBOX_TABLE) as span:
            claimed = self._inner.claim_pending(limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, len(claimed))
            return claimed

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        with self._spans("Outbox.mark_sent", "UPDATE", OUTBOX_TABLE):
            self._inner.mark_sent(outbox_ids, at)

    def backlog(self) -> int:
        with self._spans("Outbox.backlog", "SELECT", OUTBOX_TABLE):
            return self._inner.backlog()

    def count_sent_before(self, cutoff: datetime) -> int:
        with self._spans("Outbox.count_sent_before", "SELECT", OUTBOX_TABLE):
            return self._inner.count_sent_before(cutoff)

    def delete_sent_before(self, cutoff: datetime, limit: int) -> int:
        with self._spans("Outbox.delete_sent_before", "DELETE", OUTBOX_TABLE) as span:
            deleted = self._inner.delete_sent_before(cutoff, limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, deleted)
            return deleted


class TracingIdempotencyKeys(IdempotencyKeys):
    """Spans around the key store; the keys themselves stay out of the attributes (clients choose them)."""

    def __init__(
        self, inner: IdempotencyKeys, telemetry: Telemetry, *, db_system: str, db_namespace: str | None = None
    ) -> None:
        self._inner = inner
        self._spans = _PortSpans(telemetry.tracer(), db_system, db_namespace)

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None:
        with self._spans("IdempotencyKeys.claim", "SELECT", IDEMPOTENCY_KEY_TABLE) as span:
            found = self._inner.claim(key, now)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, 0 if found is None else 1)
            return found

    def add(self, record: IdempotencyRecord) -> None:
        with self._spans("IdempotencyKeys.add", "INSERT", IDEMPOTENCY_KEY_TABLE, **{REQUEST_ID: record.request_id}):
            self._inner.add(record)

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        with self._spans("IdempotencyKeys.purge_expired", "DELETE", IDEMPOTENCY_KEY_TABLE) as span:
            purged = self._inner.purge_expired(now, limit)
            span.set_attribute(DB_RESPONSE_RETURNED_ROWS, purged)
            return purged

    def count_expired(self, now: datetime) -> int:
        with self._spans("IdempotencyKeys.count_expired", "SELECT", IDEMPOTENCY_KEY_TABLE):
            return self._inner.count_expired(now)


class TracingUnitOfWork(UnitOfWork):
    """Wraps a unit of work so that its repository, outbox, key store, commit and rollback calls are spans."""

    def __init__(
        self, inner: UnitOfWork, telemetry: Telemetry, *, db_system: str, db_namespace: str | None = None
    ) -> None:
        self._telemetry = telemetry
        self._db_system = db_system
        self._db_namespace = db_namespace
        self._spans = _PortSpans(telemetry.tracer(), db_system, db_namespace)
        self._wrap(inner)

    def _wrap(self, inner: UnitOfWork) -> None:
        self._inner = inner
        db_system, db_namespace = self._db_system, self._db_namespace
        self.requests = TracingRequestRepository(
            inner.requests, self._telemetry, db_system=db_system, db_namespace=db_namespace
        )
        self.outbox = TracingOutbox(inner.outbox, self._telemetry, db_system=db_system, db_namespace=db_namespace)
        self.idempotency_keys = TracingIdempotencyKeys(
            inner.idempotency_keys, self._telemetry, db_system=db_system, db_namespace=db_namespace
        )
        self.redriven_letters = inner.redriven_letters

    def __enter__(self) -> Self:
        entered = self._inner.__enter__()
        if entered is not self._inner:
            self._wrap(entered)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        with self._spans("UnitOfWork.commit", "COMMIT"):
            self._inner.commit()

    def rollback(self) -> None:
        with self._spans("UnitOfWork.rollback", "ROLLBACK"):
            self._inner.rollback()


def traced_unit_of_work(
    factory: UnitOfWorkFactory, telemetry: Telemetry, *, db_system: str, db_namespace: str | None = None
) -> UnitOfWorkFactory:
    """`factory`, its units of work traced; `factory` itself when telemetry is disabled."""
    if not telemetry.enabled:
        return factory

    def traced() -> UnitOfWork:
        return TracingUnitOfWork(factory(), telemetry, db_system=db_system, db_namespace=db_namespace)

    return traced
