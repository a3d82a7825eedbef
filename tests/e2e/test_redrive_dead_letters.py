"""`cruncan redrive --from-dlq` on the real Tansu, Postgres and worker: each dead letter, poison ones
included, is re-driven once, however often the command runs and even when the DLQ positions are lost."""

from __future__ import annotations

import re
import uuid

import pytest
from confluent_kafka import Producer

from harness.kafka import read_messages
from harness.polling import eventually
from harness.wiremock import any_three_request, token_request, token_response
from tests.component.forwarding_world import CLIENT_ID, CLIENT_SECRET
from tests.e2e.conftest import WORKER_STARTED
from tests.e2e.jobs import Cruncan, job_env, redrive_messages

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

REQUESTS = 5
TOKEN = "dlq-token"
POISON = b"\xff not a request"
SUMMARY = re.compile(
    r"re-drove (\d+) request\(s\) and (\d+) poison message\(s\) from the dead letters; "
    r"(\d+) re-driven before, (\d+) no longer failed"
)


def dlq_env(pipeline, group_id: str) -> dict[str, str]:
    return job_env(
        pipeline.dsn,
        MESSAGING__BACKEND="kafka",
        MESSAGING__KAFKA__BOOTSTRAP_SERVERS=pipeline.broker.bootstrap_servers,
        MESSAGING__KAFKA__TOPIC=pipeline.topic,
        MESSAGING__KAFKA__REQUEST_TIMEOUT_MS=2000,
        MESSAGING__KAFKA__DELIVERY_TIMEOUT_MS=5000,
        WORKER__DLQ_TOPIC=pipeline.dlq_topic,
        REDRIVE__DLQ_GROUP_ID=group_id,
    )


def summary(cruncan: Cruncan, env: dict[str, str]) -> tuple[int, ...]:
    run = cruncan("redrive", "--from-dlq", env=env)
    assert run.process.wait(90) == 0, run.output()
    return tuple(int(n) for n in run.wait_for_line(SUMMARY).groups())


def test_dead_letters_are_redriven_once_however_often_the_command_runs(cruncan: Cruncan, pipeline) -> None:
    pipeline.wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), token_response(TOKEN))
    pipeline.wiremock.stub(any_three_request(TOKEN), {"status": 422, "body": "bad field"})
    expected = set(pipeline.store_and_publish(REQUESTS))
    producer = Producer({"bootstrap.servers": pipeline.broker.bootstrap_servers})
    producer.produce(pipeline.topic, key=b"poison", value=POISON, headers=[("traceparent", b"00-poison")])
    producer.flush(10)
    worker = cruncan("worker", *pipeline.worker_arguments())
    worker.wait_for_line(WORKER_STARTED)
    eventually(lambda: pipeline.statuses() == {"failed": REQUESTS}, f"all {REQUESTS} requests failed")
    read_messages(pipeline.broker.bootstrap_servers, pipeline.dlq_topic, REQUESTS + 1)
    assert worker.terminate() == 0
    group = f"redrive-{uuid.uuid4().hex[:8]}"

    assert summary(cruncan, dlq_env(pipeline, group)) == (REQUESTS, 1, 0, 0)
    assert summary(cruncan, dlq_env(pipeline, group)) == (0, 0, 0, 0), "the second run starts past them"
    assert summary(cruncan, dlq_env(pipeline, f"{group}-lost")) == (0, 0, REQUESTS + 1, 0), (
        "a group without positions finds every letter recorded in Postgres"
    )

    assert redrive_messages(pipeline.dsn) == {request_id: ["1"] for request_id in expected}
    topic = read_messages(pipeline.broker.bootstrap_servers, pipeline.topic, REQUESTS + 2)
    poison = [m for m in topic if m.value == POISON]
    assert len(poison) == 2, "the poison message and its one re-drive"
    assert [m.headers for m in poison] == [{"traceparent": "00-poison"}] * 2, "re-published without cruncan.dlq.*"
