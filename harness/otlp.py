"""A real OTLP/HTTP receiver on a free local port: point a process at `endpoint` with
`OTEL_EXPORTER_OTLP_ENDPOINT`. It accepts POST `/v1/traces`, `/v1/metrics` and `/v1/logs` in
`application/x-protobuf` (gzip, deflate or plain), decodes them and offers plain values for assertions.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

T = TypeVar("T")
PROTOBUF = "application/x-protobuf"
WAIT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    attributes: Mapping[str, Any]
    links: tuple[tuple[str, str], ...]
    status: str
    resource: Mapping[str, Any]
    scope: str


@dataclass(frozen=True)
class ReceivedPoint:
    """One data point of a metric: `value` for sums and gauges, `count`/`total` for histograms."""

    name: str
    unit: str
    kind: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]
    value: float | None = None
    count: int | None = None
    total: float | None = None


@dataclass(frozen=True)
class ReceivedLog:
    body: Any
    severity: str
    trace_id: str
    span_id: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


@dataclass
class _Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    points: list[ReceivedPoint] = field(default_factory=list)
    logs: list[ReceivedLog] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    grpc_requests: dict[str, int] = field(default_factory=dict)


GRPC_METHODS = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "/v1/traces",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "/v1/metrics",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "/v1/logs",
}


class OtlpReceiver:
    """Serves OTLP over HTTP at `endpoint` and over gRPC at `grpc_endpoint` until `stop()`; what arrives by
    either is kept under the HTTP path of its signal. Every accessor returns a snapshot, `wait_for` polls."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._changed = threading.Condition()
        self._received = _Received()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, name="otlp-receiver", daemon=True)
        self._grpc = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="otlp-grpc"))
        self._grpc.add_generic_rpc_handlers((_GrpcExports(self),))
        self._grpc_port = self._grpc.add_insecure_port(f"{host}:0")

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self._grpc_port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        self._grpc.start()
        return self

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        self._grpc.stop(grace=None)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._received.spans)

    def spans_by_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [span for span in self.spans() if span.trace_id == trace_id]

    def trace_ids(self) -> set[str]:
        return {span.trace_id for span in self.spans()}

    def points(self, name: str | None = None) -> list[ReceivedPoint]:
        with self._changed:
            return [point for point in self._received.points if name is None or point.name == name]

    def logs(self) -> list[ReceivedLog]:
        with self._changed:
            return list(self._received.logs)

    def requests(self, path: str) -> int:
        with self._changed:
            return self._received.requests.get(path, 0)

    def contains(self, text: str) -> bool:
        """Whether `text` appears anywhere in what was received (attributes, bodies, resources, names)."""
        needle = text.encode()
        with self._changed:
            return any(needle in payload for payload in self._received.payloads)

    def wait_for(self, outcome: Callable[[], T], timeout: float = WAIT_TIMEOUT_S, what: str = "") -> T:
        """Returns `outcome()` as soon as it is truthy; an AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = outcome()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"the OTLP receiver did not get {what or 'the expected telemetry'} within {timeout} s "
                        f"(requests so far: {self._received.requests})"
                    )
                self._changed.wait(remaining)

    def grpc_requests(self, path: str) -> int:
        """How many export requests for the signal of `path` came over gRPC."""
        with self._changed:
            return self._received.grpc_requests.get(path, 0)

    def accept(self, path: str, payload: bytes, over_grpc: bool = False) -> Message:
        decoders: dict[str, Callable[[bytes], tuple[Message, Callable[[_Received, Any], None]]]] = {
            "/v1/traces": lambda raw: (ExportTraceServiceRequest.FromString(raw), _keep_spans),
            "/v1/metrics": lambda raw: (ExportMetricsServiceRequest.FromString(raw), _keep_points),
            "/v1/logs": lambda raw: (ExportLogsServiceRequest.FromString(raw), _keep_logs),
        }
        request, keep = decoders[path](payload)
        with self._changed:
            keep(self._received, request)
            self._received.payloads.append(payload)
            self._received.requests[path] = self._received.requests.get(path, 0) + 1
            if over_grpc:
                self._received.grpc_requests[path] = self._received.grpc_requests.get(path, 0) + 1
            self._changed.notify_all()
        responses: dict[str, Message] = {
            "/v1/traces": ExportTraceServiceResponse(),
            "/v1/metrics": ExportMetricsServiceResponse(),
            "/v1/logs": ExportLogsServiceResponse(),
        }
        return responses[path]


class _GrpcExports(grpc.GenericRpcHandler):
    """The three OTLP collector services' `Export`, each handing the raw request to the receiver."""

    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, Message] | None:
        path = GRPC_METHODS.get(handler_call_details.method)
        if path is None:
            return None

        def export(raw: bytes, _context: grpc.ServicerContext) -> Message:
            return self._receiver.accept(path, raw, over_grpc=True)

        return grpc.unary_unary_rpc_method_handler(export, response_serializer=lambda reply: reply.SerializeToString())


def _handler_for(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class OtlpHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path not in {"/v1/traces", "/v1/metrics", "/v1/logs"}:
                self._answer(404, b"unknown OTLP path", "text/plain")
                return
            if self.headers.get("Content-Type", "").split(";")[0].strip() != PROTOBUF:
                self._answer(415, b"only application/x-protobuf is accepted", "text/plain")
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                response = receiver.accept(self.path, _decompress(raw, self.headers.get("Content-Encoding", "")))
            except (DecodeError, OSError, zlib.error) as exc:
                self._answer(400, f"undecodable OTLP request: {exc}".encode(), "text/plain")
                return
            self._answer(200, response.SerializeToString(), PROTOBUF)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return OtlpHandler


def _decompress(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    return raw


def _keep_spans(received: _Received, request: ExportTraceServiceRequest) -> None:
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        attributes=_attributes(span.attributes),
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                        status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )


def _keep_points(received: _Received, request: ExportMetricsServiceRequest) -> None:
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                common: dict[str, Any] = {"name": metric.name, "unit": metric.unit, "kind": kind, "resource": resource}
                if kind in {"sum", "gauge"}:
                    for point in getattr(metric, kind).data_points:
                        value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                        received.points.append(
                            ReceivedPoint(**common, attributes=_attributes(point.attributes), value=value)
                        )
                elif kind == "histogram":
                    for point in metric.histogram.data_points:
                        received.points.append(
                            ReceivedPoint(
                                **common, attributes=_attributes(point.attributes), count=point.count, total=point.sum
                            )
                        )


def _keep_logs(received: _Received, request: ExportLogsServiceRequest) -> None:
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                received.logs.append(
                    ReceivedLog(
                        body=_value(record.body),
                        severity=record.severity_text,
                        trace_id=record.trace_id.hex(),
                        span_id=record.span_id.hex(),
                        attributes=_attributes(record.attributes),
                        resource=resource,
                    )
                )


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)
