"""One Submit, one trace: a traced, authenticated caller's `traceparent` continued by `cruncan grpc`, through
the outbox and Kafka, to the third party, exactly as `test_telemetry` checks for `POST /one`; the span names
who called (the token's subject), and the token itself is never recorded."""

from __future__ import annotations

import re
import secrets
import uuid

import grpc
import pytest

from entrypoints.grpc.gen import one_pb2, one_pb2_grpc
from harness.jwks import AUDIENCE, ISSUER, JwksServer, claims, rsa_key
from harness.otlp import OtlpReceiver
from harness.polling import eventually
from tests.component.forwarding_world import Pipeline
from tests.e2e.test_telemetry import (
    ACCESS_TOKEN,
    TRACEPARENT,
    WORKER,
    WORKER_STARTED,
    Cruncan,
    Trace,
    backlog_drained,
    exporting_to,
    header,
    stop,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

GRPC = "cruncan-grpc"
GRPC_LISTENING = re.compile(r"cruncan grpc listening on grpc://([\d.]+:\d+)")
CALLER_KEY = rsa_key("telemetry-caller")
CALLER_SUBJECT = f"caller-{uuid.uuid4().hex[:8]}"
PROMPT = f"a gRPC prompt that no span or log may quote {uuid.uuid4().hex}"


@pytest.fixture
def pipeline(pipeline: Pipeline) -> Pipeline:
    pipeline.stub_token_and_third_party(ACCESS_TOKEN, delay_ms=0)
    return pipeline


def test_one_submit_is_one_trace_from_the_callers_span_through_kafka_to_the_third_party(
    cruncan: Cruncan, pipeline: Pipeline, otlp_receiver: OtlpReceiver
) -> None:
    env = exporting_to(otlp_receiver)
    jwks = JwksServer([CALLER_KEY])
    authentication = [
        "auth.enabled=true",
        f"auth.jwks_url={jwks.url}",
        f"auth.issuer={ISSUER}",
        f"auth.audience={AUDIENCE}",
    ]
    flags = [argument for setting in authentication for argument in ("--set", setting)]
    server = cruncan("grpc", "--port", "0", *pipeline.worker_arguments(), *flags, env=env)
    worker = cruncan("worker", *pipeline.worker_arguments(), env=env)
    target = server.wait_for_line(GRPC_LISTENING).group(1)
    worker.wait_for_line(WORKER_STARTED)
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    caller_token = CALLER_KEY.sign(claims(subject=CALLER_SUBJECT))
    metadata = (("traceparent", f"00-{caller_trace}-{caller_span}-01"), ("authorization", f"Bearer {caller_token}"))
    with grpc.insecure_channel(target) as channel:
        submit = one_pb2.SubmitRequest(user_id="user-1", prompt=PROMPT, data=[one_pb2.DataItem(key="k", value="v")])
        request_id = one_pb2_grpc.OneServiceStub(channel).Submit(submit, metadata=metadata, timeout=10).request_id
    eventually(lambda: pipeline.statuses() == {"forwarded": 1}, "the request forwarded")
    otlp_receiver.wait_for(lambda: backlog_drained(otlp_receiver, GRPC), what="the gRPC server's outbox backlog at 0")
    stop(worker, server)
    jwks.down()

    spans = otlp_receiver.spans()
    [rpc] = [span for span in spans if span.kind == "SERVER"]
    assert rpc.name == "/cruncan.one.v1.OneService/Submit"
    assert (rpc.trace_id, rpc.parent_span_id) == (caller_trace, caller_span), "the caller's trace, continued"
    assert otlp_receiver.trace_ids() == {caller_trace}, "one Submit, one trace"
    assert rpc.attributes["rpc.system"] == "grpc"
    assert rpc.attributes["rpc.grpc.status_code"] == 0
    assert rpc.attributes["enduser.id"] == CALLER_SUBJECT, "who submitted it, from the verified token"
    trace = Trace(spans)
    [producer] = trace.of(GRPC, kind="PRODUCER")
    assert trace.descends(producer, rpc), "the relay continues the trace stored with the request"
    assert producer.attributes["messaging.kafka.message.key"] == request_id
    [process] = trace.of(WORKER, kind="CONSUMER")
    assert process.parent_span_id == producer.span_id
    [received] = pipeline.wiremock.requests({"method": "POST", "url": "/three"})
    traceparent = TRACEPARENT.match(header(received["headers"], "traceparent"))
    assert traceparent is not None
    assert traceparent["trace_id"] == caller_trace
    for secret in (caller_token, caller_token.split(".")[2], PROMPT):
        assert not otlp_receiver.contains(secret), f"exported: {secret}"
        assert secret not in server.output() + worker.output(), f"on the console: {secret}"
