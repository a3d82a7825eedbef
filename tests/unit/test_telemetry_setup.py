import gc
import io
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanKind

from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from adapters.telemetry.messaging import TracingPublisher, process_span
from adapters.telemetry.providers import Telemetry
from adapters.telemetry.setup import (
    GC_YOUNGEST_THRESHOLD,
    OtlpExports,
    TelemetryConfigError,
    collect_garbage_less_often,
    configure_telemetry,
    service_resource,
)
from adapters.telemetry.tracing import traced_unit_of_work
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.relay import RelayOutbox

pytestmark = pytest.mark.usefixtures("clean_environment", "root_logger")

log = logging.getLogger("cruncan.test")
REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def console():
    return io.StringIO()


@pytest.fixture
def started(console):
    """Calls `configure_telemetry` like an entrypoint would, and shuts every result down after the test."""
    made = []

    def start(service_name="cruncan-api", **options):
        telemetry = configure_telemetry(service_name, "1.2.3", "test", stream=console, install_globals=False, **options)
        made.append(telemetry)
        return telemetry

    yield start
    for telemetry in made:
        telemetry.shutdown()


def emit_one_of_each(telemetry):
    with telemetry.tracer("test").start_as_current_span("POST /one") as span:
        telemetry.meter("test").create_counter("cruncan.test.calls", unit="{call}").add(3, {"route": "/one"})
        log.info("handled the request")
    return f"{span.get_span_context().trace_id:032x}"


def test_traces_metrics_and_logs_reach_an_otlp_receiver(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    telemetry = started("cruncan-api")

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    [span] = otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span")
    assert span.name == "POST /one"
    assert span.resource["service.name"] == "cruncan-api"
    assert span.resource["service.version"] == "1.2.3"
    assert span.resource["deployment.environment.name"] == "test"
    assert span.resource["service.instance.id"]
    assert span.resource["process.pid"] == os.getpid()
    [point] = otlp_receiver.wait_for(lambda: otlp_receiver.points("cruncan.test.calls"), what="the counter")
    assert (point.value, point.unit, point.attributes) == (3, "{call}", {"route": "/one"})
    assert point.resource["service.name"] == "cruncan-api"
    logs = otlp_receiver.wait_for(
        lambda: [r for r in otlp_receiver.logs() if r.body == "handled the request"], what="the log record"
    )
    assert [(record.trace_id, record.severity) for record in logs] == [(trace_id, "INFO")]


def test_with_the_grpc_protocol_every_signal_reaches_the_receiver_over_grpc(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
    clean_environment.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    telemetry = started("cruncan-grpc")

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    [span] = otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span over gRPC")
    assert span.resource["service.name"] == "cruncan-grpc"
    [point] = otlp_receiver.wait_for(lambda: otlp_receiver.points("cruncan.test.calls"), what="the counter over gRPC")
    assert point.value == 3
    otlp_receiver.wait_for(
        lambda: [r for r in otlp_receiver.logs() if r.trace_id == trace_id], what="the log record over gRPC"
    )
    assert [otlp_receiver.grpc_requests(path) > 0 for path in ("/v1/traces", "/v1/metrics", "/v1/logs")] == [True] * 3


def test_one_signal_may_use_grpc_while_the_others_use_http(otlp_receiver, started, clean_environment, console):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    clean_environment.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", otlp_receiver.grpc_endpoint)
    clean_environment.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    telemetry = started("cruncan-api")

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span")
    assert otlp_receiver.grpc_requests("/v1/traces") > 0
    assert otlp_receiver.grpc_requests("/v1/metrics") == 0
    assert otlp_receiver.requests("/v1/metrics") > 0
    assert f"traces to {otlp_receiver.grpc_endpoint} (grpc)" in console.getvalue()


def test_the_environment_names_the_service_and_overrides_resource_attributes(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    clean_environment.setenv("OTEL_SERVICE_NAME", "cruncan-api-canary")
    clean_environment.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,team=payments")
    telemetry = started("cruncan-api")

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    [span] = otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span")
    assert span.resource["service.name"] == "cruncan-api-canary"
    assert span.resource["deployment.environment.name"] == "staging"
    assert span.resource["team"] == "payments"
    assert span.resource["service.version"] == "1.2.3"


def test_metrics_are_exported_at_the_interval_the_environment_sets(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    clean_environment.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
    telemetry = started()

    telemetry.meter("test").create_counter("cruncan.test.ticks").add(1)

    otlp_receiver.wait_for(lambda: otlp_receiver.requests("/v1/metrics") >= 2, what="two periodic metric exports")


def test_a_signal_specific_endpoint_or_exporter_choice_applies_to_that_signal_only(
    otlp_receiver, started, clean_environment
):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp_receiver.endpoint}/v1/traces")
    clean_environment.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{otlp_receiver.endpoint}/v1/logs")
    clean_environment.setenv("OTEL_LOGS_EXPORTER", "none")
    telemetry = started()

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span")
    assert otlp_receiver.requests("/v1/metrics") == 0
    assert otlp_receiver.requests("/v1/logs") == 0


def test_compressed_exports_are_received(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    clean_environment.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    telemetry = started()

    trace_id = emit_one_of_each(telemetry)
    telemetry.shutdown()

    otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the gzip-compressed span")


def test_without_an_endpoint_nothing_is_exported_yet_logs_carry_trace_ids(started, console):
    from harness.otlp import OtlpReceiver

    default_port = socket.socket()
    try:
        default_port.bind(("127.0.0.1", 4318))
    except OSError as exc:
        pytest.fail(f"port 4318 (the default OTLP/HTTP endpoint) is taken, so this test cannot watch it: {exc}")
    default_port.close()
    receiver = OtlpReceiver(port=4318).start()
    try:
        telemetry = started()
        assert OtlpExports.from_environment() == OtlpExports(traces=None, metrics=None, logs=None)

        trace_id = emit_one_of_each(telemetry)
        telemetry.shutdown()

        assert receiver.requests("/v1/traces") + receiver.requests("/v1/metrics") + receiver.requests("/v1/logs") == 0
    finally:
        receiver.stop()
    lines = [json.loads(line) for line in console.getvalue().splitlines()]
    assert "console logs only" in lines[0]["message"]
    assert [line["trace_id"] for line in lines if line["message"] == "handled the request"] == [trace_id]


def test_sdk_disabled_gives_the_no_op_api_and_console_logs(otlp_receiver, started, clean_environment, console):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    clean_environment.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = started("cruncan-worker")

    with telemetry.tracer().start_as_current_span("process one-request") as span:
        log.info("inside a no-op span")
    telemetry.meter().create_counter("cruncan.test.calls").add(1)
    telemetry.shutdown()

    assert not telemetry.enabled
    assert isinstance(span, NonRecordingSpan)
    assert not span.get_span_context().is_valid
    [line] = [json.loads(line) for line in console.getvalue().splitlines() if "no-op" in line]
    assert line["service.name"] == "cruncan-worker"
    assert "trace_id" not in line
    assert otlp_receiver.requests("/v1/traces") + otlp_receiver.requests("/v1/metrics") == 0
    assert otlp_receiver.requests("/v1/logs") == 0


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "only 'http/protobuf' and 'grpc'"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", "only 'http/protobuf' and 'grpc'"),
        ("OTEL_METRICS_EXPORTER", "prometheus", "only 'otlp' and 'none'"),
    ],
)
def test_an_exporter_this_process_cannot_run_is_refused_at_startup(
    started, clean_environment, variable, value, complaint
):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    clean_environment.setenv(variable, value)

    with pytest.raises(TelemetryConfigError, match=complaint):
        started()


def test_shutdown_may_be_called_again(started):
    telemetry = started()

    telemetry.shutdown()
    telemetry.shutdown()


def test_the_receiver_refuses_what_an_otlp_collector_would_refuse(otlp_receiver):
    http = urllib3.PoolManager(retries=False)

    assert http.request("POST", f"{otlp_receiver.endpoint}/v1/profiles", body=b"").status == 404
    json_body = {"Content-Type": "application/json"}
    assert http.request("POST", f"{otlp_receiver.endpoint}/v1/traces", body=b"{}", headers=json_body).status == 415
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert http.request("POST", f"{otlp_receiver.endpoint}/v1/logs", body=b"\xff\xff", headers=protobuf).status == 400
    assert otlp_receiver.logs() == []


PROCESS = """
import logging
from opentelemetry import trace
from adapters.telemetry.setup import configure_telemetry

configure_telemetry("cruncan-relay", "1.2.3", "test")
with trace.get_tracer("library-that-knows-only-globals").start_as_current_span("global span") as span:
    logging.getLogger("cruncan.relay").info("published")
print(f"{span.get_span_context().trace_id:032x}", flush=True)
"""


def test_a_process_that_exits_without_shutting_down_still_flushes_through_the_globals(otlp_receiver):
    environment = {name: value for name, value in os.environ.items() if not name.startswith("OTEL_")}
    environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_receiver.endpoint
    finished = subprocess.run(
        [sys.executable, "-c", PROCESS],
        env=environment,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = finished.stdout.splitlines()
    trace_id = lines[-1]
    [span] = otlp_receiver.wait_for(lambda: otlp_receiver.spans_by_trace(trace_id), what="the span")
    assert span.name == "global span"
    assert span.resource["service.name"] == "cruncan-relay"
    otlp_receiver.wait_for(lambda: [r for r in otlp_receiver.logs() if r.trace_id == trace_id], what="the log")
    [published] = [json.loads(line) for line in lines[:-1] if "published" in line]
    assert published["trace_id"] == trace_id


def test_one_trace_through_the_outbox_arrives_whole_at_the_receiver(otlp_receiver, started, clean_environment):
    clean_environment.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.endpoint)
    telemetry = started("cruncan-api")
    store, broker, clock = InMemoryStore(), InMemoryBroker(), ManualClock()
    uow = traced_unit_of_work(lambda: InMemoryUnitOfWork(store), telemetry, db_system="other_sql")
    with telemetry.tracer("test").start_as_current_span("POST /one", kind=SpanKind.SERVER) as server:
        IngestRequest(uow, SnowflakeIdGenerator(clock, node=1), clock)({"user_id": "user-1"})
    publisher = TracingPublisher(InMemoryPublisher(broker, "one-request"), telemetry, topic="one-request")
    RelayOutbox(lambda: InMemoryUnitOfWork(store), publisher, clock)()
    [record] = broker.records("one-request")
    with process_span(telemetry, record.headers, topic=record.topic, partition=record.partition, offset=record.offset):
        pass
    telemetry.shutdown()

    trace_id = f"{server.get_span_context().trace_id:032x}"
    otlp_receiver.wait_for(lambda: len(otlp_receiver.spans_by_trace(trace_id)) == 6, what="the six spans")
    spans = otlp_receiver.spans_by_trace(trace_id)
    by_name = {span.name: span for span in spans}
    assert set(by_name) == {
        "POST /one",
        "RequestRepository.add",
        "Outbox.add",
        "UnitOfWork.commit",
        "send one-request",
        "process one-request",
    }
    producer, consumer = by_name["send one-request"], by_name["process one-request"]
    assert (producer.kind, producer.parent_span_id) == ("PRODUCER", by_name["POST /one"].span_id)
    assert (consumer.kind, consumer.parent_span_id) == ("CONSUMER", producer.span_id)
    assert consumer.links == ((trace_id, producer.span_id),)
    assert otlp_receiver.trace_ids() == {trace_id}


@pytest.fixture
def python_gc_threshold():
    """The collector's thresholds at Python's defaults for the test, put back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("python_gc_threshold")
def test_with_telemetry_on_young_objects_are_collected_less_often_and_with_it_off_as_python_does(recorded):
    collect_garbage_less_often(Telemetry.disabled("cruncan-api"))
    assert gc.get_threshold() == (700, 10, 10)

    collect_garbage_less_often(recorded.telemetry)
    assert gc.get_threshold() == (GC_YOUNGEST_THRESHOLD, 10, 10)

    gc.set_threshold(50_000, 10, 10)
    collect_garbage_less_often(recorded.telemetry)
    assert gc.get_threshold() == (50_000, 10, 10), "a higher threshold set by the operator stays"


def test_the_service_resource_hashes_and_compares_as_the_sdk_resource_of_the_same_attributes(clean_environment):
    clean_environment.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=api-0")
    resource = service_resource("cruncan-api", "1.2.3", "test")
    plain = Resource(dict(resource.attributes), resource.schema_url)

    assert resource.attributes["k8s.pod.name"] == "api-0"
    assert (hash(resource), resource) == (hash(plain), plain)
    assert {resource: "grouped"}[plain] == "grouped", "the encoders group spans by resource"
    assert resource != Resource({**resource.attributes, "k8s.pod.name": "api-1"}, resource.schema_url)
