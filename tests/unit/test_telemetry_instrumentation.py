import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3
from flask import Flask, jsonify
from opentelemetry.trace import SpanKind

from adapters.telemetry.instrumentation import instrument_flask_app, instrument_libraries
from adapters.telemetry.providers import Telemetry
from tests.unit.recorded_telemetry import in_memory_telemetry

pytestmark = pytest.mark.usefixtures("clean_environment")

TOKEN = "eyJhbGciOiJIUzI1NiJ9.token-value.signature"
REMOTE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN = "00f067aa0ba902b7"


def make_app() -> Flask:
    app = Flask("instrumented")

    @app.post("/one")
    def post_one():
        return jsonify({"request_id": "1"}), 201

    @app.get("/one/<request_id>")
    def get_one(request_id):
        return jsonify({"request_id": request_id})

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz():
        return jsonify({"status": "ready"})

    return app


@pytest.fixture
def client(recorded):
    app = make_app()
    instrument_flask_app(app, recorded.telemetry)
    return app.test_client()


def every_attribute_value(recorded) -> str:
    return repr([dict(span.attributes or {}) for span in recorded.finished()])


def test_a_request_is_a_server_span_that_continues_the_callers_trace(client, recorded):
    response = client.post("/one", json={}, headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"})

    assert response.status_code == 201
    [span] = recorded.finished()
    assert span.name == "POST /one"
    assert span.kind is SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == REMOTE_TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == REMOTE_SPAN
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["http.route"] == "/one"
    assert span.attributes["http.response.status_code"] == 201


def test_routes_name_the_spans_and_the_duration_metric(client, recorded):
    client.get("/one/00264905529753600064")

    assert [span.name for span in recorded.finished()] == ["GET /one/<request_id>"]
    [point] = recorded.points("http.server.request.duration")
    assert point.attributes["http.route"] == "/one/<request_id>"
    assert point.count == 1


def test_health_endpoints_make_no_spans(client, recorded):
    client.get("/healthz")
    client.get("/readyz")
    client.get("/readyz?verbose=1")

    assert recorded.finished() == []


def test_more_excluded_urls_may_come_from_the_environment(recorded, clean_environment):
    clean_environment.setenv("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "/one/.*")
    app = make_app()
    instrument_flask_app(app, recorded.telemetry)

    app.test_client().get("/one/1")
    app.test_client().get("/healthz")
    app.test_client().post("/one", json={})

    assert [span.name for span in recorded.finished()] == ["POST /one"]


def test_the_authorization_header_is_never_recorded_even_when_headers_are_captured(client, recorded, clean_environment):
    clean_environment.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", ".*")

    client.post("/one", json={}, headers={"Authorization": f"Bearer {TOKEN}", "X-Tenant": "acme"})

    [span] = recorded.finished()
    assert span.attributes["http.request.header.x_tenant"] == ("acme",)
    assert span.attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert TOKEN not in every_attribute_value(recorded)


def test_disabled_telemetry_leaves_the_app_alone():
    app = make_app()
    wsgi_app = app.wsgi_app

    instrument_flask_app(app, Telemetry.disabled("cruncan-api"))

    assert app.wsgi_app == wsgi_app


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, str]]

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append(dict(self.headers))
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        return None


@pytest.fixture
def third_party():
    handler = type("Recorder", (_Recorder,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def instrumented(recorded):
    instrument_libraries(recorded.telemetry)
    return recorded


def test_outbound_requests_are_client_spans_that_send_traceparent_on(instrumented, third_party):
    url, received = third_party
    http = urllib3.PoolManager()
    with instrumented.telemetry.tracer("test").start_as_current_span("process one-request") as process:
        response = http.request("POST", f"{url}/three", json={"id": "1"}, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status == 200
    client = instrumented.span("POST")
    assert client.kind is SpanKind.CLIENT
    assert client.parent is not None
    assert client.parent.span_id == process.get_span_context().span_id
    assert client.attributes["http.request.method"] == "POST"
    assert client.attributes["url.full"] == f"{url}/three"
    assert client.attributes["http.response.status_code"] == 200
    [headers] = received
    trace_id, span_id = headers["traceparent"].split("-")[1:3]
    assert (trace_id, span_id) == (f"{client.context.trace_id:032x}", f"{client.context.span_id:016x}")


def test_outbound_secrets_are_not_recorded_even_when_headers_are_captured(recorded, third_party, clean_environment):
    clean_environment.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", ".*")
    instrument_libraries(recorded.telemetry)
    url, _ = third_party
    with recorded.telemetry.tracer("test").start_as_current_span("process one-request"):
        urllib3.PoolManager().request(
            "POST", f"{url}/three?sig={TOKEN}", json={"id": "1"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    client = recorded.span("POST")
    assert client.attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert TOKEN not in every_attribute_value(recorded)


def test_outbound_requests_outside_any_trace_make_no_spans(instrumented, third_party):
    url, received = third_party

    urllib3.PoolManager().request("POST", f"{url}/three", json={})

    assert instrumented.finished() == []
    assert len(received) == 1


def test_libraries_are_instrumented_by_one_telemetry_at_a_time(instrumented, third_party):
    second = in_memory_telemetry()
    with pytest.raises(RuntimeError, match="already instrumented"):
        instrument_libraries(second.telemetry)

    instrumented.telemetry.shutdown()
    instrument_libraries(second.telemetry)
    url, _ = third_party
    with second.telemetry.tracer("test").start_as_current_span("process one-request"):
        urllib3.PoolManager().request("POST", f"{url}/three", json={})
    second.telemetry.shutdown()

    assert [span.name for span in second.finished()] == ["POST", "process one-request"]


def test_disabled_telemetry_instruments_no_library(third_party):
    instrument_libraries(Telemetry.disabled("cruncan-worker"))
    url, received = third_party

    urllib3.PoolManager().request("POST", f"{url}/three", json={})

    assert "traceparent" not in received[0]
