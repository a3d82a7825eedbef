"""Reads the spans a benchmark kept (`NullOtlpSink(keep_traces=True)`) once its run is over, to say where
the milliseconds of a message or a request went: the gaps between one trace's spans are the waits."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

MESSAGE_KEY = "messaging.kafka.message.key"


@dataclass(frozen=True)
class TimedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    key: str = ""
    """The message key (`messaging.kafka.message.key`), on messaging spans: the request ID."""

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def decoded(payloads: Iterable[bytes]) -> list[TimedSpan]:
    spans = []
    for payload in payloads:
        request = ExportTraceServiceRequest.FromString(payload)
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), ""
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        TimedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            service=service,
                            name=span.name,
                            kind=SpanMessage.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_").lower(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            key=next((a.value.string_value for a in span.attributes if a.key == MESSAGE_KEY), ""),
                        )
                    )
    return spans


def by_trace(spans: Iterable[TimedSpan]) -> dict[str, list[TimedSpan]]:
    traces: dict[str, list[TimedSpan]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    for members in traces.values():
        members.sort(key=lambda span: span.start_ns)
    return traces


def first(spans: Sequence[TimedSpan], test: Callable[[TimedSpan], bool]) -> TimedSpan | None:
    return next((span for span in spans if test(span)), None)


def last(spans: Sequence[TimedSpan], test: Callable[[TimedSpan], bool]) -> TimedSpan | None:
    return next((span for span in reversed(spans) if test(span)), None)


def print_hops(title: str, hops: dict[str, list[float]]) -> None:
    """One line per hop: its median, 90th and 99th percentile in milliseconds over the traces measured."""
    print(f"  {title}")
    for hop, values in hops.items():
        if not values:
            print(f"    {hop:<58} (no traces)")
            continue
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        print(f"    {hop:<58} p50 {statistics.median(ordered):6.2f}  p90 {p90:6.2f}  p99 {p99:6.2f} ms")


def mean_overlap(intervals: Sequence[TimedSpan]) -> float:
    """How many of `intervals` were open at once, on average over the time at least one was."""
    edges = sorted([(span.start_ns, 1) for span in intervals] + [(span.end_ns, -1) for span in intervals])
    open_now, weighted, busy, previous = 0, 0, 0, edges[0][0]
    for at, change in edges:
        if open_now:
            weighted += open_now * (at - previous)
            busy += at - previous
        open_now, previous = open_now + change, at
    return weighted / busy if busy else 0.0
