"""What each request's trace says about its way through the demo: when the API accepted it, when
the relay published it, when the worker finished with it, and every HTTP call the worker made.

`StepRecorder` is a span processor on the demo's own tracer provider; it keeps the last `capacity`
requests. A span joins a request by the trace it belongs to, bound to the request's ID by the span
that stored the request or by a message span keyed by it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.semconv._incubating.attributes.messaging_attributes import MESSAGING_KAFKA_MESSAGE_KEY
from opentelemetry.semconv.attributes.db_attributes import DB_COLLECTION_NAME, DB_OPERATION_NAME
from opentelemetry.semconv.attributes.http_attributes import HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE
from opentelemetry.semconv.attributes.url_attributes import URL_FULL
from opentelemetry.trace import SpanKind, StatusCode

from adapters.telemetry.providers import Telemetry
from adapters.telemetry.tracing import REQUEST_ID, REQUEST_TABLE

NS_PER_MS = 1_000_000


@dataclass
class Call:
    method: str
    target: str
    status: int | None
    started_ns: int
    ended_ns: int


@dataclass
class Timeline:
    trace_id: str
    accepted: tuple[int, int] | None = None
    published_ns: int | None = None
    finished_ns: int | None = None
    calls: list[Call] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Each step's duration in ms, from the end of the step before; the calls in order."""
        steps: list[dict[str, Any]] = []
        previous = None
        if self.accepted is not None:
            started, previous = self.accepted
            steps.append({"step": "accepted", "ms": _ms(previous - started)})
        for name, ended in (("published", self.published_ns), ("finished", self.finished_ns)):
            if ended is not None:
                steps.append({"step": name, "ms": None if previous is None else _ms(max(ended - previous, 0))})
                previous = ended
        first = min((call.started_ns for call in self.calls), default=0)
        calls = [
            {
                "method": call.method,
                "target": call.target,
                "status": call.status,
                "at_ms": _ms(call.started_ns - first),
                "ms": _ms(call.ended_ns - call.started_ns),
            }
            for call in sorted(self.calls, key=lambda call: call.started_ns)
        ]
        return {"trace_id": self.trace_id, "steps": steps, "calls": calls}


class StepRecorder(SpanProcessor):
    """Timelines of the last `capacity` requests, by request ID; thread-safe."""

    def __init__(self, capacity: int = 500) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._timelines: OrderedDict[str, Timeline] = OrderedDict()
        self._requests_by_trace: OrderedDict[int, str] = OrderedDict()

    def timeline(self, request_id: str) -> Timeline | None:
        with self._lock:
            return self._timelines.get(request_id)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or span.start_time is None or span.end_time is None:
            return
        attributes = span.attributes or {}
        with self._lock:
            request_id = self._bind(context.trace_id, _request_id(span.kind, attributes))
            timeline = self._timelines.get(request_id) if request_id else None
            if timeline is None:
                return
            if span.kind is SpanKind.SERVER:
                timeline.accepted = (span.start_time, span.end_time)
            elif span.kind is SpanKind.PRODUCER and span.status.status_code is not StatusCode.ERROR:
                timeline.published_ns = span.end_time
            elif span.kind is SpanKind.CONSUMER:
                timeline.finished_ns = span.end_time
            elif span.kind is SpanKind.CLIENT and URL_FULL in attributes:
                status = attributes.get(HTTP_RESPONSE_STATUS_CODE)
                timeline.calls.append(
                    Call(
                        method=str(attributes.get(HTTP_REQUEST_METHOD, "")),
                        target=urlsplit(str(attributes[URL_FULL])).path,
                        status=status if isinstance(status, int) else None,
                        started_ns=span.start_time,
                        ended_ns=span.end_time,
                    )
                )

    def _bind(self, trace_id: int, request_id: str | None) -> str | None:
        if request_id is None:
            return self._requests_by_trace.get(trace_id)
        if trace_id not in self._requests_by_trace:
            self._requests_by_trace[trace_id] = request_id
            _trim(self._requests_by_trace, self._capacity)
        if request_id not in self._timelines:
            self._timelines[request_id] = Timeline(trace_id=format(trace_id, "032x"))
            _trim(self._timelines, self._capacity)
        return request_id

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def record_steps(telemetry: Telemetry, recorder: StepRecorder) -> StepRecorder:
    """`recorder`, fed the spans of `telemetry` when it has an SDK (else it stays empty)."""
    if isinstance(telemetry.tracer_provider, TracerProvider):
        telemetry.tracer_provider.add_span_processor(recorder)
    return recorder


def _request_id(kind: SpanKind, attributes: Any) -> str | None:
    """The request a span names: the one it stored, or the key of the message it sent or handled."""
    if attributes.get(DB_OPERATION_NAME) == "INSERT" and attributes.get(DB_COLLECTION_NAME) == REQUEST_TABLE:
        found = attributes.get(REQUEST_ID)
    elif kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
        found = attributes.get(MESSAGING_KAFKA_MESSAGE_KEY)
    else:
        return None
    return found if isinstance(found, str) and found else None


def _trim(entries: OrderedDict[Any, Any], capacity: int) -> None:
    while len(entries) > capacity:
        entries.popitem(last=False)


def _ms(nanoseconds: int) -> float:
    return round(nanoseconds / NS_PER_MS, 1)
