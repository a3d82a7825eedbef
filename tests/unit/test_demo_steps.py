"""The demo's step recorder: a request's timeline from the spans of its trace, whatever else is traced."""

from __future__ import annotations

from opentelemetry.trace import SpanKind, StatusCode, set_span_in_context

from adapters.telemetry.providers import Telemetry
from adapters.telemetry.tracing import REQUEST_ID
from entrypoints.demo.steps import StepRecorder, record_steps
from tests.unit.recorded_telemetry import in_memory_telemetry

STORE = {"db.operation.name": "INSERT", "db.collection.name": "request"}
MS = 1_000_000


def request_trace(telemetry: Telemetry, request_id: str, t0: int, *, rejected: bool = False) -> str:
    """The spans one request leaves, at ms offsets from `t0`, as the API, relay and worker make them."""
    tracer = telemetry.tracer()
    server = tracer.start_span("POST /one", kind=SpanKind.SERVER, start_time=t0)
    within_server = set_span_in_context(server)
    stored = {**STORE, REQUEST_ID: request_id}
    tracer.start_span("RequestRepository.add", within_server, attributes=stored, start_time=t0 + MS).end(t0 + 2 * MS)
    server.end(end_time=t0 + 4 * MS)
    key = {"messaging.kafka.message.key": request_id}
    producer = tracer.start_span(
        "send one-request", within_server, SpanKind.PRODUCER, attributes=key, start_time=t0 + 5 * MS
    )
    producer.end(end_time=t0 + 6 * MS)
    consumer = tracer.start_span(
        "process one-request", set_span_in_context(producer), SpanKind.CONSUMER, attributes=key, start_time=t0 + 7 * MS
    )
    for at, status in ((8, 503), (20, 400 if rejected else 200)):
        call = {"http.request.method": "POST", "url.full": "http://h:1/three?x=1", "http.response.status_code": status}
        sent = tracer.start_span(
            "POST", set_span_in_context(consumer), SpanKind.CLIENT, attributes=call, start_time=t0 + at * MS
        )
        sent.end(t0 + (at + 2) * MS)
    if rejected:
        consumer.set_status(StatusCode.ERROR)
    consumer.end(end_time=t0 + 30 * MS)
    return format(server.get_span_context().trace_id, "032x")


def test_a_request_timeline_holds_each_step_time_its_calls_and_its_trace_id() -> None:
    recorded = in_memory_telemetry()
    recorder = record_steps(recorded.telemetry, StepRecorder())
    try:
        trace_id = request_trace(recorded.telemetry, "r-1", 1_000 * MS)
        timeline = recorder.timeline("r-1")
    finally:
        recorded.telemetry.shutdown()

    assert timeline is not None
    assert timeline.to_json() == {
        "trace_id": trace_id,
        "steps": [
            {"step": "accepted", "ms": 4.0},
            {"step": "published", "ms": 2.0},
            {"step": "finished", "ms": 24.0},
        ],
        "calls": [
            {"method": "POST", "target": "/three", "status": 503, "at_ms": 0.0, "ms": 2.0},
            {"method": "POST", "target": "/three", "status": 200, "at_ms": 12.0, "ms": 2.0},
        ],
    }


def test_spans_of_traces_that_stored_no_request_are_ignored() -> None:
    recorded = in_memory_telemetry()
    recorder = record_steps(recorded.telemetry, StepRecorder())
    try:
        tracer = recorded.telemetry.tracer()
        with tracer.start_as_current_span("GET /demo/requests", kind=SpanKind.SERVER):
            lookup = {"db.operation.name": "SELECT", "db.collection.name": "request", REQUEST_ID: "r-1"}
            tracer.start_span("RequestRepository.get", attributes=lookup).end()
        assert recorder.timeline("r-1") is None
    finally:
        recorded.telemetry.shutdown()


def test_only_the_last_requests_up_to_the_capacity_are_kept() -> None:
    recorded = in_memory_telemetry()
    recorder = record_steps(recorded.telemetry, StepRecorder(capacity=2))
    try:
        for number in range(3):
            request_trace(recorded.telemetry, f"r-{number}", number * 1_000 * MS)
    finally:
        recorded.telemetry.shutdown()

    assert recorder.timeline("r-0") is None
    assert recorder.timeline("r-1") is not None
    assert recorder.timeline("r-2") is not None


def test_without_an_sdk_the_recorder_gets_nothing_and_says_so_by_staying_empty() -> None:
    telemetry = Telemetry.disabled("cruncan-demo")
    recorder = record_steps(telemetry, StepRecorder())
    request_trace(telemetry, "r-1", 0)
    assert recorder.timeline("r-1") is None
