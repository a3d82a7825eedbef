"""One call per process, before anything else: traces, metrics and logs configured from `OTEL_*`."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Attributes, OTELResourceDetector, Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv._incubating.attributes.process_attributes import PROCESS_PID
from opentelemetry.semconv.attributes.deployment_attributes import DEPLOYMENT_ENVIRONMENT_NAME
from opentelemetry.semconv.attributes.service_attributes import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    SERVICE_VERSION,
)
from opentelemetry.util.http import redact_url

from adapters.telemetry.logs import configure_logging
from adapters.telemetry.providers import Telemetry, sdk_telemetry
from adapters.telemetry.redaction import Redactor

log = logging.getLogger(__name__)

HTTP, GRPC = "http/protobuf", "grpc"
PROTOCOLS = (HTTP, GRPC)
SIGNAL_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}
DEFAULT_ENDPOINTS = {HTTP: "http://localhost:4318", GRPC: "http://localhost:4317"}
EXPORTERS: dict[str, dict[str, type[Any]]] = {
    HTTP: {"traces": HttpSpanExporter, "metrics": HttpMetricExporter, "logs": HttpLogExporter},
    GRPC: {"traces": GrpcSpanExporter, "metrics": GrpcMetricExporter, "logs": GrpcLogExporter},
}


# The cyclic collector's youngest-generation threshold while telemetry runs (Python's default: 700).
GC_YOUNGEST_THRESHOLD = 10_000


class TelemetryConfigError(ValueError):
    """An `OTEL_*` variable asks for something this process cannot do."""


def configure_telemetry(
    service_name: str,
    service_version: str,
    environment: str,
    *,
    console_level: str | int = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    log_format: str = "auto",
    install_globals: bool = True,
) -> Telemetry:
    """Sets up this process's telemetry from the standard `OTEL_*` variables and returns it.

    - `OTEL_SDK_DISABLED=true`: no SDK at all; the API's no-op providers, console logs only.
    - A signal is exported over OTLP (http/protobuf, or grpc as `OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL`
      says) when `OTEL_EXPORTER_OTLP_ENDPOINT` or its
      `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` is set, or `OTEL_<SIGNAL>_EXPORTER=otlp` asks for the
      default endpoint; `OTEL_<SIGNAL>_EXPORTER=none` turns it off. With no endpoint nothing is
      exported (no connection attempts), yet spans still carry IDs into logs and messages.
    - Resource: `service.name`, `service.version`, `deployment.environment.name`,
      `service.instance.id` (new in each process) and `process.pid`, which tell apart the processes
      of one service on one host (`http.processes`); `OTEL_RESOURCE_ATTRIBUTES` and
      `OTEL_SERVICE_NAME` override them.
    - Logs: lines on `stream` (stdout) at `console_level` in `log_format` (`auto`, `console`, `json`),
      blanking `secrets`.

    Call `shutdown()` on the result once the work has drained (it also runs at exit).
    """
    redactor = Redactor(secrets)
    if _flag("OTEL_SDK_DISABLED"):
        telemetry = Telemetry.disabled(os.environ.get("OTEL_SERVICE_NAME") or service_name, redactor)
        destinations = "disabled (OTEL_SDK_DISABLED)"
    else:
        exports = OtlpExports.from_environment()
        telemetry = sdk_telemetry(
            service_resource(service_name, service_version, environment),
            span_processors=[BatchSpanProcessor(exports.exporter("traces"))] if exports.traces else [],
            metric_readers=[PeriodicExportingMetricReader(exports.exporter("metrics"))] if exports.metrics else [],
            log_processors=[BatchLogRecordProcessor(exports.exporter("logs"))] if exports.logs else [],
            redactor=redactor,
        )
        destinations = exports.describe()
        if install_globals:
            telemetry.install_globals()
    configure_logging(telemetry, level=console_level, stream=stream, log_format=log_format)
    atexit.register(telemetry.shutdown)
    telemetry.on_shutdown(lambda: atexit.unregister(telemetry.shutdown))
    log.info("telemetry for %s: %s", telemetry.service_name, destinations)
    return telemetry


def service_resource(service_name: str, service_version: str, environment: str) -> Resource:
    defaults: dict[str, str | int] = {
        SERVICE_NAME: service_name,
        SERVICE_VERSION: service_version,
        DEPLOYMENT_ENVIRONMENT_NAME: environment,
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
        PROCESS_PID: os.getpid(),
    }
    detected = Resource.create(defaults).merge(OTELResourceDetector().detect())
    return HashedOnce(dict(detected.attributes), detected.schema_url)


class HashedOnce(Resource):
    """A resource whose hash is computed once. The OTLP encoders group what they export by resource and
    hash it for every span and log record (`Resource.__hash__` JSON-dumps its attributes: ~3 us, a
    tenth of encoding a span); a process's resource never changes."""

    def __init__(self, attributes: Attributes, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True)
class OtlpExports:
    """Which signals go out over OTLP, and by which protocol (None: not exported), decided from the environment."""

    traces: str | None
    metrics: str | None
    logs: str | None

    @classmethod
    def from_environment(cls) -> OtlpExports:
        return cls(traces=_exported("traces"), metrics=_exported("metrics"), logs=_exported("logs"))

    def exporter(self, signal: str) -> Any:
        """The exporter of `signal` for its protocol; it reads its endpoint and options from `OTEL_*` itself."""
        protocol: str = getattr(self, signal)
        return EXPORTERS[protocol][signal]()

    def describe(self) -> str:
        sent = [
            f"{signal} to {redact_url(_endpoint(signal, protocol))} ({protocol})"
            for signal in SIGNAL_PATHS
            if (protocol := getattr(self, signal))
        ]
        return ", ".join(sent) if sent else "console logs only (no OTEL_EXPORTER_OTLP_ENDPOINT)"


def _exported(signal: str) -> str | None:
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    chosen = {name.strip().lower() for name in os.environ.get(variable, "").split(",") if name.strip()}
    if chosen - {"otlp", "none"}:
        raise TelemetryConfigError(f"{variable}={os.environ[variable]!r}: only 'otlp' and 'none' are supported")
    if "otlp" in chosen:
        wanted = True
    elif chosen:
        wanted = False
    else:
        wanted = bool(_env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    protocol = _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or HTTP
    if wanted and protocol not in PROTOCOLS:
        supported = " and ".join(repr(name) for name in PROTOCOLS)
        raise TelemetryConfigError(f"OTLP protocol {protocol!r} for {signal}: only {supported} are supported")
    return protocol if wanted else None


def _endpoint(signal: str, protocol: str) -> str:
    """Where the exporter sends `signal`: a gRPC exporter dials the base endpoint, an HTTP one posts to a path."""
    specific = _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if specific:
        return specific
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINTS[protocol]
    return base if protocol == GRPC else f"{base.removesuffix('/')}/{SIGNAL_PATHS[signal]}"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _flag(name: str) -> bool:
    return _env(name).lower() == "true"


def collect_garbage_less_often(telemetry: Telemetry) -> None:
    """With telemetry on, raises the collector's youngest-generation threshold to `GC_YOUNGEST_THRESHOLD`
    (never lowers it). Spans and log records wait in the batch processors' queues long enough to outlive
    young collections; promoted, they trigger full ones, which walk the whole heap: at Python's 700 the
    collector took ~80-110 us of CPU per request with every trace sampled, 2.5 us with telemetry off
    (`bench.telemetry_path`), and ~10 us at 10,000. Call once per process, after `configure_telemetry`."""
    if not telemetry.enabled:
        return
    youngest, *older = gc.get_threshold()
    if youngest < GC_YOUNGEST_THRESHOLD:
        gc.set_threshold(GC_YOUNGEST_THRESHOLD, *older)
