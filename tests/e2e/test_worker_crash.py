"""`cruncan worker` killed mid-run, on the real broker, Postgres and WireMock: every request still
reaches the third party, at least once; the duplicates a crash costs are counted and reported."""

from __future__ import annotations

import pytest

from harness.polling import eventually
from tests.e2e.conftest import WORKER_STARTED

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

REQUESTS = 200
CONCURRENCY = 4
THIRD_PARTY_DELAY_MS = 40
TOKEN = "crash-test-token"


def test_a_worker_killed_mid_run_loses_no_request(cruncan, pipeline, record_property):
    pipeline.stub_token_and_third_party(TOKEN, THIRD_PARTY_DELAY_MS)
    expected = set(pipeline.store_and_publish(REQUESTS))

    first = cruncan("worker", *pipeline.worker_arguments(CONCURRENCY))
    first.wait_for_line(WORKER_STARTED)
    eventually(lambda: len(pipeline.received_ids()) >= REQUESTS // 4, "the first worker a quarter of the way")
    first.process.kill()
    first.process.wait(10)
    before_crash = len(pipeline.received_ids())
    assert before_crash < REQUESTS, "the worker finished before it was killed: the test proves nothing"

    second = cruncan("worker", *pipeline.worker_arguments(CONCURRENCY))
    second.wait_for_line(WORKER_STARTED)
    eventually(lambda: pipeline.statuses() == {"forwarded": REQUESTS}, f"all {REQUESTS} requests forwarded")
    ends = pipeline.ends()
    eventually(lambda: pipeline.committed() == ends, f"the restarted worker committed up to {ends}")
    assert second.terminate() == 0

    received = pipeline.received_ids()
    assert expected - set(received) == set(), "requests that never reached the third party"
    assert set(received) <= expected
    duplicates = len(received) - len(set(received))
    print(
        f"\ncrash test: {REQUESTS} requests; the third party had received {before_crash} when the worker was "
        f"killed, {len(received)} in all: {duplicates} duplicates"
    )
    record_property("requests", REQUESTS)
    record_property("received_before_kill", before_crash)
    record_property("duplicates", duplicates)
