"""One request, one trace: `cruncan api` (its relay embedded, or `cruncan relay` apart) and `cruncan worker`
as real processes on the real Postgres, Tansu and WireMock, exporting traces, metrics and logs to a real
OTLP/HTTP receiver. The processes stop (and flush) before the receiver is read."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest
import urllib3
from psycopg2.extensions import parse_dsn

from entrypoints.components import VERSION
from harness.kafka import read_messages
from harness.otlp import OtlpReceiver, ReceivedPoint, ReceivedSpan
from harness.polling import eventually
from tests.component.forwarding_world import CLIENT_ID, CLIENT_SECRET, Pipeline
from tests.e2e.conftest import WORKER_STARTED, RunningCommand

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

Cruncan = Callable[..., RunningCommand]

API, RELAY, WORKER = "cruncan-api", "cruncan-relay", "cruncan-worker"
ENVIRONMENT = "telemetry-e2e"
ACCESS_TOKEN = f"e2e-access-token-{uuid.uuid4().hex}"
CALLER_TOKEN = f"e2e-caller-token-{uuid.uuid4().hex}"
BASIC_CREDENTIALS = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
PROMPT = f"a prompt that no span or log may quote {uuid.uuid4().hex}"
PSYCOPG2, URLLIB3 = "opentelemetry.instrumentation.psycopg2", "opentelemetry.instrumentation.urllib3"
RELAY_STARTED = re.compile("cruncan relay publishing the outbox")
TRACEPARENT = re.compile(r"^00-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})-[0-9a-f]{2}$")


def exporting_to(receiver: OtlpReceiver) -> dict[str, str]:
    """Every signal to `receiver`, promptly; every HTTP header captured, so secret ones must come out redacted."""
    return {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": ".*",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST": ".*",
        "DEPLOYMENT_ENVIRONMENT": ENVIRONMENT,
    }


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = urllib3.PoolManager(retries=False, timeout=10)

    def get(self, path: str) -> int:
        return self._http.request("GET", f"{self.url}{path}").status

    def post_one(self) -> str:
        """POSTs a request, with a caller's bearer token the API ignores and no span may record."""
        body = {"user_id": "user-1", "prompt": PROMPT, "data": [{"key": "k", "value": "v"}]}
        headers = {"Authorization": f"Bearer {CALLER_TOKEN}"}
        response = self._http.request("POST", f"{self.url}/one", json=body, headers=headers)
        assert response.status == 201, response.data
        request_id: str = response.json()["request_id"]
        return request_id


@pytest.fixture
def pipeline(pipeline: Pipeline) -> Pipeline:
    """The e2e pipeline, its token API and third party answering at once."""
    pipeline.stub_token_and_third_party(ACCESS_TOKEN, delay_ms=0)
    return pipeline


def forward_one_request(
    cruncan: Cruncan, pipeline: Pipeline, env: dict[str, str]
) -> tuple[str, RunningCommand, RunningCommand]:
    """Runs the API and the worker (at DEBUG, so that urllib3 logs inside the spans), checks health,
    POSTs one request and waits until it is forwarded."""
    api = cruncan("api", "--port", "0", *pipeline.worker_arguments(), env=env)
    worker = cruncan("worker", "--log-level", "DEBUG", *pipeline.worker_arguments(), env=env)
    client = Api(api.url())
    worker.wait_for_line(WORKER_STARTED)
    assert (client.get("/healthz"), client.get("/readyz")) == (200, 200)
    request_id = client.post_one()
    eventually(lambda: pipeline.statuses() == {"forwarded": 1}, "the request forwarded")
    return request_id, api, worker


def stop(*commands: RunningCommand) -> None:
    """SIGTERM, in turn: each drains its work, then flushes its telemetry."""
    for command in commands:
        assert command.terminate() == 0, command.output()


def backlog_drained(receiver: OtlpReceiver, service: str) -> bool:
    """Whether the last backlog `service` exported is 0, observed after it had published."""
    points = [p for p in receiver.points() if p.resource["service.name"] == service]
    backlogs = [n for n, point in enumerate(points) if point.name == "cruncan.outbox.backlog"]
    published = [n for n, point in enumerate(points) if point.name == "cruncan.outbox.published"]
    return bool(backlogs and published) and points[backlogs[-1]].value == 0 and published[0] < backlogs[-1]


def test_one_post_is_one_trace_from_the_http_server_through_kafka_to_the_third_party(
    cruncan: Cruncan, pipeline: Pipeline, otlp_receiver: OtlpReceiver
) -> None:
    request_id, api, worker = forward_one_request(cruncan, pipeline, exporting_to(otlp_receiver))
    otlp_receiver.wait_for(lambda: backlog_drained(otlp_receiver, API), what="the API's outbox backlog back to 0")
    stop(worker, api)

    spans = otlp_receiver.spans()
    servers = [span for span in spans if span.kind == "SERVER"]
    assert [span.name for span in servers] == ["POST /one"], "one server span, none for /healthz and /readyz"
    server = servers[0]
    assert otlp_receiver.trace_ids() == {server.trace_id}, "one request, one trace: background polls make none"
    trace = Trace(spans)
    assert [span.name for span in spans if span.status == "ERROR"] == []
    assert server.attributes["http.route"] == "/one"
    assert server.attributes["http.response.status_code"] == 201
    assert server.attributes["http.request.header.authorization"] == ["[REDACTED]"]

    database_calls = trace.of(API, kind="CLIENT")
    assert sorted(span.name for span in database_calls) == ["Outbox.add", "RequestRepository.add", "UnitOfWork.commit"]
    for call in database_calls:
        assert (call.scope, call.parent_span_id) == ("cruncan", server.span_id)
        assert_database(call, pipeline.dsn)
    assert trace.of(API, scope=PSYCOPG2) == [], "the statements of a port call are that call, not spans of their own"

    [producer] = trace.of(API, kind="PRODUCER")
    assert producer.name == f"send {pipeline.topic}"
    assert trace.descends(producer, server), "the relay continues the trace stored with the request"
    assert_messaging(producer, pipeline.topic, "send", request_id)

    [process] = trace.of(WORKER, kind="CONSUMER")
    assert process.name == f"process {pipeline.topic}"
    assert process.parent_span_id == producer.span_id
    assert process.links == ((server.trace_id, producer.span_id),)
    assert_messaging(process, pipeline.topic, "process", request_id)
    assert process.attributes["messaging.consumer.group.name"] == pipeline.group_id

    calls = {
        span.attributes["url.full"].removeprefix(pipeline.wiremock.base_url): span
        for span in trace.of(WORKER, scope=URLLIB3)
    }
    assert sorted(calls) == ["/three", "/v2/oauth/token"], "one token call, one third-party call"
    token_call, third_party_call = calls["/v2/oauth/token"], calls["/three"]
    for call in (token_call, third_party_call):
        assert (call.kind, call.scope, call.parent_span_id) == ("CLIENT", URLLIB3, process.span_id)
        assert call.attributes["http.request.method"] == "POST"
        assert call.attributes["http.response.status_code"] == 200
        assert call.attributes["http.request.header.authorization"] == ["[REDACTED]"]
    worker_calls = trace.of(WORKER, scope="cruncan", kind="CLIENT")
    assert sorted(span.name for span in worker_calls) == ["RequestRepository.record_status", "UnitOfWork.commit"]
    for call in worker_calls:
        assert call.parent_span_id == process.span_id, "the worker records the outcome in Postgres"
        assert_database(call, pipeline.dsn)
    assert trace.of(WORKER, scope=PSYCOPG2) == []
    assert sorted(span.name for span in trace.of(API)) == sorted(
        ["POST /one", "RequestRepository.add", "Outbox.add", "UnitOfWork.commit", f"send {pipeline.topic}"]
    ), "one span per step of the request, no step twice"

    for path, call in (("/v2/oauth/token", token_call), ("/three", third_party_call)):
        [received] = pipeline.wiremock.requests({"method": "POST", "url": path})
        traceparent = TRACEPARENT.match(header(received["headers"], "traceparent"))
        assert traceparent is not None, received["headers"]
        assert (traceparent["trace_id"], traceparent["span_id"]) == (server.trace_id, call.span_id), path

    assert_logs_carry_the_trace(otlp_receiver, trace, server.trace_id, worker)
    assert_ingestion_and_forwarding_metrics(Metrics(otlp_receiver), pipeline.topic)
    assert_resources_name(otlp_receiver, {API, WORKER})
    assert otlp_receiver.contains(request_id), "the search below must be able to find what was exported"
    for secret in (ACCESS_TOKEN, CALLER_TOKEN, CLIENT_SECRET, BASIC_CREDENTIALS, PROMPT):
        assert not otlp_receiver.contains(secret), f"exported: {secret}"
        assert secret not in api.output() + worker.output(), f"on the console: {secret}"


def test_with_the_sdk_disabled_nothing_is_exported_and_the_request_is_still_forwarded(
    cruncan: Cruncan, pipeline: Pipeline, otlp_receiver: OtlpReceiver
) -> None:
    env = {**exporting_to(otlp_receiver), "OTEL_SDK_DISABLED": "true"}
    _, api, worker = forward_one_request(cruncan, pipeline, env)
    stop(worker, api)

    assert [otlp_receiver.requests(path) for path in ("/v1/traces", "/v1/metrics", "/v1/logs")] == [0, 0, 0]
    [received] = pipeline.wiremock.requests({"method": "POST", "url": "/three"})
    assert "traceparent" not in {name.lower() for name in received["headers"]}
    for command, service in ((api, API), (worker, WORKER)):
        messages = [line["message"] for line in json_lines(command)]
        assert f"telemetry for {service}: disabled (OTEL_SDK_DISABLED)" in messages, command.output()


def test_a_relay_of_its_own_exports_as_cruncan_relay_and_continues_the_request_trace(
    cruncan: Cruncan, pipeline: Pipeline, otlp_receiver: OtlpReceiver
) -> None:
    env = exporting_to(otlp_receiver)
    settings = pipeline.worker_arguments()
    api = cruncan("api", "--port", "0", "--set", "relay.embedded=false", *settings, env=env)
    relay = cruncan("relay", *settings, env=env)
    relay.wait_for_line(RELAY_STARTED)
    request_id = Api(api.url()).post_one()
    [message] = read_messages(pipeline.broker.bootstrap_servers, pipeline.topic, 1)
    otlp_receiver.wait_for(lambda: backlog_drained(otlp_receiver, RELAY), what="the relay's outbox backlog back to 0")
    stop(relay, api)

    spans = otlp_receiver.spans()
    [server] = [span for span in spans if span.kind == "SERVER"]
    [producer] = [span for span in spans if span.kind == "PRODUCER"]
    assert otlp_receiver.trace_ids() == {server.trace_id}
    assert producer.resource["service.name"] == RELAY
    assert Trace(spans).descends(producer, server)
    assert_messaging(producer, pipeline.topic, "send", request_id)
    traceparent = TRACEPARENT.match(message.headers["traceparent"])
    assert traceparent is not None, message.headers
    assert (traceparent["trace_id"], traceparent["span_id"]) == (server.trace_id, producer.span_id)

    metrics = Metrics(otlp_receiver)
    destination = {"messaging.destination.name": pipeline.topic}
    assert metrics.value("cruncan.outbox.published", RELAY, destination) == 1
    assert metrics.value("cruncan.outbox.backlog", RELAY) == 0
    assert {point.resource["service.name"] for point in metrics.named("cruncan.outbox.published")} == {RELAY}


class Trace:
    """The spans of one export, by ID, with their services and ancestry."""

    def __init__(self, spans: Iterable[ReceivedSpan]) -> None:
        self.spans = list(spans)
        self.ids = {span.span_id: span for span in self.spans}
        assert len(self.ids) == len(self.spans), "span IDs repeat"

    def of(self, service: str, **match: str) -> list[ReceivedSpan]:
        spans = [span for span in self.spans if span.resource["service.name"] == service]
        return [span for span in spans if all(getattr(span, name) == value for name, value in match.items())]

    def names(self, service: str) -> set[str]:
        return {span.name for span in self.of(service)}

    def descends(self, span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
        while span.parent_span_id in self.ids:
            span = self.ids[span.parent_span_id]
            if span == ancestor:
                return True
        return False


class Metrics:
    """The last exported data point of each metric (cumulative, so the final value)."""

    def __init__(self, receiver: OtlpReceiver) -> None:
        self._points = receiver.points()

    def named(self, name: str) -> list[ReceivedPoint]:
        return [point for point in self._points if point.name == name]

    def last(self, name: str, service: str, attributes: Mapping[str, Any]) -> ReceivedPoint:
        matching = [
            point
            for point in self.named(name)
            if point.resource["service.name"] == service
            and all(point.attributes.get(key) == value for key, value in attributes.items())
        ]
        assert matching, f"no {name} {dict(attributes)} from {service}; got {sorted({p.name for p in self._points})}"
        return matching[-1]

    def value(self, name: str, service: str, attributes: Mapping[str, Any] | None = None) -> float | None:
        return self.last(name, service, attributes or {}).value

    def count(self, name: str, service: str, attributes: Mapping[str, Any] | None = None) -> int | None:
        return self.last(name, service, attributes or {}).count

    def absent(self, *names: str) -> bool:
        return not [point for point in self._points if point.name in names]


def assert_logs_carry_the_trace(receiver: OtlpReceiver, trace: Trace, trace_id: str, worker: RunningCommand) -> None:
    logs = receiver.logs()
    in_trace = [record for record in logs if record.trace_id == trace_id]
    assert any("/three" in str(record.body) for record in in_trace), "urllib3's line about the third-party call"
    assert all(record.span_id in trace.ids for record in in_trace)
    assert any(line.get("trace_id") == trace_id for line in json_lines(worker)), "the console shows it too"
    exporting = [record.body for record in logs if '"POST /v1/' in str(record.body)]
    assert exporting == [], "what is logged while exporting must not be exported, or exports feed themselves"


def assert_ingestion_and_forwarding_metrics(metrics: Metrics, topic: str) -> None:
    assert metrics.value("cruncan.ingest.handled", API) == 1
    assert metrics.value("cruncan.ingest.succeeded", API) == 1
    assert metrics.absent("cruncan.ingest.failed")
    assert metrics.count("cruncan.ingest.duration", API) == 1
    destination = {"messaging.destination.name": topic}
    assert metrics.value("cruncan.outbox.published", API, destination) == 1
    assert metrics.count("cruncan.outbox.publish.duration", API, destination) == 1
    assert metrics.value("cruncan.outbox.backlog", API) == 0
    stored = {"db.system.name": "postgresql", "db.operation.name": "INSERT"}
    for table in ("request", "outbox"):
        assert metrics.count("db.client.operation.duration", API, {**stored, "db.collection.name": table}) == 1
    assert metrics.count("http.server.request.duration", API, {"http.route": "/one"}) == 1
    assert {point.attributes.get("http.route") for point in metrics.named("http.server.request.duration")} == {"/one"}
    forwarded = {"cruncan.outcome": "forwarded"}
    assert metrics.value("cruncan.worker.messages.processed", WORKER, forwarded) == 1
    assert metrics.count("cruncan.worker.forward.duration", WORKER, forwarded) == 1
    assert metrics.value("cruncan.token.fetches", WORKER, {"cruncan.outcome": "success"}) == 1
    assert metrics.absent("cruncan.worker.messages.retried", "cruncan.worker.messages.dead_lettered")
    assert metrics.count("http.client.request.duration", WORKER) == 2
    recorded = {"db.operation.name": "UPDATE", "db.collection.name": "request"}
    assert metrics.count("db.client.operation.duration", WORKER, recorded) == 1


def assert_resources_name(receiver: OtlpReceiver, services: set[str]) -> None:
    """Every signal of every service says which service, which version and which environment it comes from."""
    signals = {"spans": receiver.spans(), "points": receiver.points(), "logs": receiver.logs()}
    for signal, items in signals.items():
        assert {item.resource["service.name"] for item in items} == services, signal
        assert {item.resource["service.version"] for item in items} == {VERSION}, signal
        assert {item.resource["deployment.environment.name"] for item in items} == {ENVIRONMENT}, signal


def assert_database(span: ReceivedSpan, dsn: str) -> None:
    """A database call says which system, which database and which server, as the driver's spans would."""
    where = parse_dsn(dsn)
    assert span.attributes["db.system.name"] == "postgresql"
    assert span.attributes["db.namespace"] == where["dbname"]
    assert span.attributes["server.address"] == where["host"]
    assert span.attributes["server.port"] == int(where["port"])


def assert_messaging(span: ReceivedSpan, topic: str, operation: str, request_id: str) -> None:
    assert span.attributes["messaging.system"] == "kafka"
    assert span.attributes["messaging.destination.name"] == topic
    assert span.attributes["messaging.operation.type"] == operation
    assert span.attributes["messaging.kafka.message.key"] == request_id
    assert span.attributes["messaging.message.body.size"] > 0


def header(headers: Mapping[str, Any], name: str) -> str:
    value = next(value for key, value in headers.items() if key.lower() == name)
    return str(value[0] if isinstance(value, list) else value)


def json_lines(command: RunningCommand) -> list[dict[str, Any]]:
    return [json.loads(line) for line in command.lines if line.startswith("{")]
