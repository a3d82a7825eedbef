"""Failed requests re-driven by replicas of `cruncan redrive` reach the third party once more, once each:
the real worker, relay, Tansu, WireMock, Postgres and Redis."""

from __future__ import annotations

import pytest

from harness import redis as redis_harness
from harness.polling import eventually
from harness.wiremock import any_three_request, token_request, token_response
from tests.component.forwarding_world import CLIENT_ID, CLIENT_SECRET
from tests.e2e.conftest import WORKER_STARTED
from tests.e2e.jobs import Cruncan, job_env

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock, pytest.mark.redis]

REQUESTS = 30
TOKEN = "redrive-token"


def test_redriven_requests_are_forwarded_once_each(cruncan: Cruncan, pipeline, redis_url: str) -> None:
    pipeline.wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), token_response(TOKEN))
    pipeline.wiremock.stub(any_three_request(TOKEN), {"status": 422, "body": "bad field"})
    expected = set(pipeline.store_and_publish(REQUESTS))
    worker = cruncan("worker", *pipeline.worker_arguments())
    worker.wait_for_line(WORKER_STARTED)
    eventually(lambda: pipeline.statuses() == {"failed": REQUESTS}, f"all {REQUESTS} requests failed")

    pipeline.wiremock.reset()
    pipeline.stub_token_and_third_party(TOKEN, delay_ms=0)
    env = job_env(
        pipeline.dsn,
        JOBS__LOCK__BACKEND="redis",
        JOBS__LOCK__REDIS_URL=redis_url,
        JOBS__LOCK__PREFIX=redis_harness.fresh_key("jobs"),
        REDRIVE__BATCH_SIZE=4,
    )
    replicas = [cruncan("redrive", env=env) for _ in range(3)]
    assert [replica.process.wait(90) for replica in replicas] == [0, 0, 0], [r.output() for r in replicas]
    pipeline.publish()

    eventually(lambda: pipeline.statuses() == {"forwarded": REQUESTS}, f"all {REQUESTS} requests forwarded")
    assert worker.terminate() == 0
    received = pipeline.received_ids()
    assert sorted(received) == sorted(expected), "each re-driven request reaches the third party exactly once"
    assert {pipeline.stored(request_id).redrive_count for request_id in expected} == {1}
