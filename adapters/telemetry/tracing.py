"""Tracing decorators around the storage ports, so that use cases hold no telemetry code."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from contextvars import Token
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from opentelemetry import context
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import Histogram
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.semconv._incubating.attributes.db_attributes import DB_RESPONSE_RETURNED_ROWS
from opentelemetry.semconv._incubating.metrics.db_metrics import (
    DB_CLIENT_OPERATION_DURATION,
    DB_CLIENT_RESPONSE_RETURNED_ROWS,
)
from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import (
    INVALID_SPAN,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue
from psycopg2 import ProgrammingError
from psycopg2.extensions import parse_dsn

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
# The boundaries the semantic conventions advise for these two metrics.
DURATION_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


class DatabaseCalls:
    """The telemetry of port calls to one database. Each call is a CLIENT span named after the port
    method, with the `db.*` attributes of what it does (made once per method) and `db_attributes` (where
    the database is: `database_attributes`), and a point of `db.client.operation.duration` (and of
    `db.client.response.returned_rows`, for calls that count rows).

    A span is made only inside a recording one, the request's: a port call outside any request, or in a
    request that is not sampled, costs no span (the sampler would drop it anyway: a CLIENT span starting a
    trace, or a child of a span not sampled), and is still measured. The driver's instrumentation is
    suppressed inside a call: its statements are that call, not calls of their own. Records logged inside
    one would stay off OTLP like those logged while exporting; the Postgres adapters log nothing."""

    def __init__(
        self, telemetry: Telemetry, *, db_system: str, db_attributes: Mapping[str, AttributeValue] | None = None
    ) -> None:
        self._tracer = telemetry.tracer()
        meter = telemetry.meter()
        self._duration = meter.create_histogram(
            DB_CLIENT_OPERATION_DURATION,
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self._rows = meter.create_histogram(
            DB_CLIENT_RESPONSE_RETURNED_ROWS,
            unit="{row}",
            description="The actual number of records returned by the database operation.",
            explicit_bucket_boundaries_advisory=ROWS_BUCKETS,
        )
        self._common: dict[str, AttributeValue] = {DB_SYSTEM_NAME: db_system, **(db_attributes or {})}
        self._methods: dict[str, _PortMethod] = {}

    def __call__(
        self,
        name: str,
        operation: str,
        collection: str | None = None,
        extra: Mapping[str, AttributeValue] | None = None,
    ) -> _PortCall:
        method = self._methods.get(name)
        if method is None:
            attributes = {**self._common, DB_OPERATION_NAME: operation}
            if collection:
                attributes[DB_COLLECTION_NAME] = collection
            method = self._methods[name] = _PortMethod(name, attributes, self._tracer, self._duration, self._rows)
        return _PortCall(method, extra)


@dataclass(frozen=True)
class _PortMethod:
    name: str
    attributes: dict[str, AttributeValue]
    tracer: Tracer
    duration: Histogram
    rows: Histogram


class _PortCall:
    """One port call: its span current (when it has one) and instrumentation suppressed while it runs;
    an exception escaping it marks the span failed and names its type on the duration."""

    __slots__ = ("_extra", "_method", "_rows", "_span", "_started", "_suppressed", "_token")

    def __init__(self, method: _PortMethod, extra: Mapping[str, AttributeValue] | None) -> None:
        self._method = method
        self._extra = extra
        self._span: Span = INVALID_SPAN
        self._token: Token[Context] | None = None
        self._rows: int | None = None

    def __enter__(self) -> Self:
        method = self._method
        if get_current_span().is_recording():
            attributes = {**method.attributes, **self._extra} if self._extra else method.attributes
            self._span = span = method.tracer.start_span(method.name, kind=SpanKind.CLIENT, attributes=attributes)
            self._token = context.attach(set_span_in_context(span))
        self._suppressed = suppress_instrumentation()
        self._suppressed.__enter__()
        self._started = time.perf_counter()
        return self

    def returned_rows(self, rows: int) -> None:
        """How many rows the call read or changed."""
        self._rows = rows
        self._span.set_attribute(DB_RESPONSE_RETURNED_ROWS, rows)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        elapsed = time.perf_counter() - self._started
        self._suppressed.__exit__(None, None, None)
        method, attributes = self._method, self._method.attributes
        if exc is not None:
            attributes = {**attributes, ERROR_TYPE: type(exc).__qualname__}
        method.duration.record(elapsed, attributes)
        if self._rows is not None:
            method.rows.record(self._rows, attributes)
        if self._token is None:
            return
        context.detach(self._token)
        span = self._span
        if exc is not None:
            span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            if isinstance(exc, Exception):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()


def database_attributes(dsn: str) -> dict[str, AttributeValue]:
    """`db.namespace`, `server.address` and `server.port` of a libpq connection string, those it names;
    none of a string libpq cannot parse (connecting will say what is wrong with it)."""
    try:
        parameters = parse_dsn(dsn)
    except ProgrammingError:
        return {}
    attributes: dict[str, AttributeValue] = {}
    if parameters.get("dbname"):
        attributes[DB_NAMESPACE] = parameters["dbname"]
    if parameters.get("host"):
        attributes[SERVER_ADDRESS] = parameters["host"]
    if str(parameters.get("port", "")).isdigit():
        attributes[SERVER_PORT] = int(parameters["port"])
    return attributes


class TracingRequestRepository(RequestRepository):
    def __init__(self, inner: RequestRepository, calls: DatabaseCalls) -> None:
        self._inner = inner
        self._calls = calls

    def add(self, request: StoredRequest) -> None:
        with self._calls("RequestRepository.add", "INSERT", REQUEST_TABLE, extra={REQUEST_ID: request.request_id}):
            self._inner.add(request)

    def get(self, request_id: str) -> StoredRequest | None:
        with self._calls("RequestRepository.get", "SELECT", REQUEST_TABLE, extra={REQUEST_ID: request_id}) as call:
            found = self._inner.get(request_id)
            call.returned_rows(0 if found is None else 1)
            return found

    def record_status(
        self, request_ids: Iterable[str], status: RequestStatus, at: datetime, reason: str | None = None
    ) -> int:
        extra = {REQUEST_STATUS: status.value}
        with self._calls("RequestRepository.record_status", "UPDATE", REQUEST_TABLE, extra):
            return self._inner.record_status(request_ids, status, at, reason)

    def recent(self, limit: int) -> list[StoredRequest]:
        with self._calls("RequestRepository.recent", "SELECT", REQUEST_TABLE) as call:
            found = self._inner.recent(limit)
            call.returned_rows(len(found))
            return found

    def failed(self, selection: RedriveSelection, limit: int) -> list[StoredRequest]:
        with self._calls("RequestRepository.failed", "SELECT", REQUEST_TABLE) as call:
            found = self._inner.failed(selection, limit)
            call.returned_rows(len(found))
            return found

    def redrive(self, selection: RedriveSelection, limit: int, at: datetime) -> list[StoredRequest]:
        with self._calls("RequestRepository.redrive", "UPDATE", REQUEST_TABLE) as call:
            moved = self._inner.redrive(selection, limit, at)
            call.returned_rows(len(moved))
            return moved

    def count_finished_before(self, cutoff: datetime) -> int:
        with self._calls("RequestRepository.count_finished_before", "SELECT", REQUEST_TABLE):
            return self._inner.count_finished_before(cutoff)

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        with self._calls("RequestRepository.delete_finished_before", "DELETE", REQUEST_TABLE) as call:
            deleted = self._inner.delete_finished_before(cutoff, limit)
            call.returned_rows(deleted)
            return deleted


class TracingOutbox(Outbox):
    """Stores the trace context current at `add` in the message headers (W3C `traceparent`,
    `tracestate`, `baggage`), so that whoever publishes the message later continues the trace."""

    def __init__(self, inner: Outbox, calls: DatabaseCalls, propagator: TextMapPropagator) -> None:
        self._inner = inner
        self._calls = calls
        self._propagator = propagator

    def add(self, message: OutboxMessage) -> None:
        headers = dict(message.headers)
        self._propagator.inject(headers)
        with self._calls("Outbox.add", "INSERT", OUTBOX_TABLE):
            self._inner.add(replace(message, headers=headers))

    def claim_pending(self, limit: int) -> list[PendingMessage]:
        with self._calls("Outbox.claim_pending", "SELECT", OUTBOX_TABLE) as call:
            claimed = self._inner.claim_pending(limit)
            call.returned_rows(len(claimed))
            return claimed

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        with self._calls("Outbox.mark_sent", "UPDATE", OUTBOX_TABLE):
            self._inner.mark_sent(outbox_ids, at)

    def backlog(self) -> int:
        with self._calls("Outbox.backlog", "SELECT", OUTBOX_TABLE):
            return self._inner.backlog()

    def count_sent_before(self, cutoff: datetime) -> int:
        with self._calls("Outbox.count_sent_before", "SELECT", OUTBOX_TABLE):
            return self._inner.count_sent_before(cutoff)

    def delete_sent_before(self, cutoff: datetime, limit: int) -> int:
        with self._calls("Outbox.delete_sent_before", "DELETE", OUTBOX_TABLE) as call:
            deleted = self._inner.delete_sent_before(cutoff, limit)
            call.returned_rows(deleted)
            return deleted


class TracingIdempotencyKeys(IdempotencyKeys):
    """Spans around the key store; the keys themselves stay out of the attributes (clients choose them)."""

    def __init__(self, inner: IdempotencyKeys, calls: DatabaseCalls) -> None:
        self._inner = inner
        self._calls = calls

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None:
        with self._calls("IdempotencyKeys.claim", "SELECT", IDEMPOTENCY_KEY_TABLE) as call:
            found = self._inner.claim(key, now)
            call.returned_rows(0 if found is None else 1)
            return found

    def add(self, record: IdempotencyRecord) -> None:
        with self._calls("IdempotencyKeys.add", "INSERT", IDEMPOTENCY_KEY_TABLE, extra={REQUEST_ID: record.request_id}):
            self._inner.add(record)

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        with self._calls("IdempotencyKeys.purge_expired", "DELETE", IDEMPOTENCY_KEY_TABLE) as call:
            purged = self._inner.purge_expired(now, limit)
            call.returned_rows(purged)
            return purged

    def count_expired(self, now: datetime) -> int:
        with self._calls("IdempotencyKeys.count_expired", "SELECT", IDEMPOTENCY_KEY_TABLE):
            return self._inner.count_expired(now)


class TracingUnitOfWork(UnitOfWork):
    """Wraps a unit of work so that its repository, outbox, key store, commit and rollback calls are spans."""

    def __init__(self, inner: UnitOfWork, calls: DatabaseCalls, propagator: TextMapPropagator) -> None:
        self._calls = calls
        self._propagator = propagator
        self._wrap(inner)

    def _wrap(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self.requests = TracingRequestRepository(inner.requests, self._calls)
        self.outbox = TracingOutbox(inner.outbox, self._calls, self._propagator)
        self.idempotency_keys = TracingIdempotencyKeys(inner.idempotency_keys, self._calls)
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
        with self._calls("UnitOfWork.commit", "COMMIT"):
            self._inner.commit()

    def rollback(self) -> None:
        with self._calls("UnitOfWork.rollback", "ROLLBACK"):
            self._inner.rollback()


def traced_unit_of_work(
    factory: UnitOfWorkFactory,
    telemetry: Telemetry,
    *,
    db_system: str,
    db_attributes: Mapping[str, AttributeValue] | None = None,
) -> UnitOfWorkFactory:
    """`factory`, its units of work traced (see `DatabaseCalls`); `factory` itself when telemetry is disabled."""
    if not telemetry.enabled:
        return factory
    calls = DatabaseCalls(telemetry, db_system=db_system, db_attributes=db_attributes)
    propagator = telemetry.propagator

    def traced() -> UnitOfWork:
        return TracingUnitOfWork(factory(), calls, propagator)

    return traced
