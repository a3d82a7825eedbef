from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from adapters.telemetry.redaction import Redactor
from adapters.telemetry.sampling import OrphanClientSpansDropped

SCOPE = "cruncan"

log = logging.getLogger(__name__)


def w3c_propagator() -> TextMapPropagator:
    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


class Telemetry:
    """The providers one process reports through, and what to undo when it stops.

    Decorators and instrumentation take their tracer and meter from here rather than from the
    OpenTelemetry globals (which can be set only once per process), so tests build as many as
    they need. `shutdown` runs once: it flushes and closes the providers, then the closers
    registered with `on_shutdown`, most recent first.
    """

    def __init__(
        self,
        service_name: str,
        tracer_provider: trace.TracerProvider,
        meter_provider: metrics.MeterProvider,
        logger_provider: _logs.LoggerProvider,
        *,
        exports_logs: bool = False,
        redactor: Redactor | None = None,
    ) -> None:
        self.service_name = service_name
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.exports_logs = exports_logs
        self.propagator = w3c_propagator()
        self.redactor = redactor or Redactor()
        self._closers: list[Callable[[], None]] = []
        self._tracers: dict[str, trace.Tracer] = {}
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def disabled(cls, service_name: str, redactor: Redactor | None = None) -> Telemetry:
        """No SDK at all: the API's no-op providers, as `OTEL_SDK_DISABLED=true` asks."""
        return cls(
            service_name,
            trace.NoOpTracerProvider(),
            metrics.NoOpMeterProvider(),
            _logs.NoOpLoggerProvider(),
            redactor=redactor,
        )

    @property
    def enabled(self) -> bool:
        return isinstance(self.tracer_provider, TracerProvider)

    def tracer(self, scope: str = SCOPE) -> trace.Tracer:
        """One tracer per scope, made once: the SDK builds a new one on every `get_tracer`, and the
        decorators ask for theirs on every unit of work."""
        tracer = self._tracers.get(scope)
        if tracer is None:
            tracer = self._tracers.setdefault(scope, self.tracer_provider.get_tracer(scope))
        return tracer

    def meter(self, scope: str = SCOPE) -> metrics.Meter:
        return self.meter_provider.get_meter(scope)

    @property
    def shutting_down(self) -> bool:
        """True from the moment `shutdown` starts: by then the process has closed what it worked with."""
        return self._closed

    def on_shutdown(self, closer: Callable[[], None]) -> None:
        with self._lock:
            self._closers.append(closer)

    def install_globals(self) -> None:
        """Makes these providers the OpenTelemetry globals, for code that only knows those.
        The API accepts this once per process and ignores (with a warning) any later call."""
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)
        propagate.set_global_textmap(self.propagator)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        flushed = True
        for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
            if isinstance(provider, TracerProvider | MeterProvider | LoggerProvider):
                flushed = provider.force_flush(timeout_millis) and flushed
        return flushed

    def shutdown(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            closers, self._closers = self._closers, []
        if isinstance(self.tracer_provider, TracerProvider):
            self.tracer_provider.shutdown()
        if isinstance(self.meter_provider, MeterProvider):
            self.meter_provider.shutdown()
        for closer in reversed(closers):
            try:
                closer()
            except Exception:
                log.exception("telemetry: a shutdown step failed")
        if isinstance(self.logger_provider, LoggerProvider):
            self.logger_provider.shutdown()


def sdk_telemetry(
    resource: Resource,
    *,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
    log_processors: Sequence[LogRecordProcessor] = (),
    sampler: Sampler | None = None,
    redactor: Redactor | None = None,
) -> Telemetry:
    """SDK providers for `resource` feeding the given processors and readers.

    The sampler (by default the one `OTEL_TRACES_SAMPLER` names, parent-based always-on when
    unset) is wrapped so that CLIENT spans without a parent are dropped."""
    meter_provider = MeterProvider(metric_readers=metric_readers, resource=resource, shutdown_on_exit=False)
    tracer_provider = TracerProvider(
        sampler=sampler, resource=resource, shutdown_on_exit=False, meter_provider=meter_provider
    )
    tracer_provider.sampler = OrphanClientSpansDropped(tracer_provider.sampler)
    for span_processor in span_processors:
        tracer_provider.add_span_processor(span_processor)
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False, meter_provider=meter_provider)
    for log_processor in log_processors:
        logger_provider.add_log_record_processor(log_processor)
    service_name = str(resource.attributes.get("service.name", ""))
    return Telemetry(
        service_name,
        tracer_provider,
        meter_provider,
        logger_provider,
        exports_logs=bool(log_processors),
        redactor=redactor,
    )
