"""`cruncan worker` stopped by SIGTERM mid-run, on the real broker, Postgres and WireMock: the messages
in flight finish and are committed, so a restarted worker repeats none of them."""

from __future__ import annotations

import pytest

from harness.polling import eventually
from tests.e2e.conftest import WORKER_STARTED

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

REQUESTS = 40
CONCURRENCY = 4
THIRD_PARTY_DELAY_MS = 300
TOKEN = "shutdown-test-token"


def test_sigterm_finishes_messages_in_flight_and_commits_them_so_a_restart_repeats_none(cruncan, pipeline):
    pipeline.stub_token_and_third_party(TOKEN, THIRD_PARTY_DELAY_MS)
    pipeline.store_and_publish(REQUESTS)

    first = cruncan("worker", *pipeline.worker_arguments(CONCURRENCY))
    first.wait_for_line(WORKER_STARTED)
    eventually(lambda: len(pipeline.received_ids()) >= 2 * CONCURRENCY, "the first worker mid-run")
    assert first.terminate() == 0, first.output()

    received_before_stop = pipeline.received_ids()
    assert len(received_before_stop) < REQUESTS, "the worker finished before it was stopped: the test proves nothing"
    unfinished = [i for i in received_before_stop if pipeline.stored(i).status.value != "forwarded"]
    assert unfinished == [], "requests in flight at SIGTERM must finish and be recorded before the worker exits"

    second = cruncan("worker", *pipeline.worker_arguments(CONCURRENCY))
    second.wait_for_line(WORKER_STARTED)
    eventually(lambda: pipeline.statuses() == {"forwarded": REQUESTS}, f"all {REQUESTS} requests forwarded")
    assert second.terminate() == 0, second.output()

    received = pipeline.received_ids()
    assert sorted(received) == sorted(sent.request_id for sent in pipeline.sent), "each request exactly once"
