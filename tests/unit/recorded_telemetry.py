"""Telemetry whose spans, metrics and log records stay in memory, exported synchronously, for unit
tests of the decorators and the instrumentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.telemetry.providers import Telemetry, sdk_telemetry


@dataclass
class InMemoryTelemetry:
    telemetry: Telemetry
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if name is None or span.name == name]

    def span(self, name: str) -> ReadableSpan:
        [span] = self.finished(name)
        return span

    def points(self, name: str) -> list[Any]:
        """The data points collected now for the metric `name` (none if it was never recorded)."""
        data = self.metrics.get_metrics_data()
        return [
            point
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


def in_memory_telemetry(service_name: str = "cruncan-test") -> InMemoryTelemetry:
    spans, metrics, logs = InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter()
    telemetry = sdk_telemetry(
        Resource({"service.name": service_name}),
        span_processors=[SimpleSpanProcessor(spans)],
        metric_readers=[metrics],
        log_processors=[SimpleLogRecordProcessor(logs)],
    )
    return InMemoryTelemetry(telemetry, spans, metrics, logs)
