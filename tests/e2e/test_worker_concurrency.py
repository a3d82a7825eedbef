"""`cruncan worker` at concurrency 8 against a slow third party (WireMock), on the real broker and Postgres:
its slots overlap as the third party sees them, all eight of them and never more."""

from __future__ import annotations

from typing import Any

import pytest

from harness.polling import eventually
from tests.e2e.conftest import WORKER_STARTED

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

REQUESTS = 24
CONCURRENCY = 8
THIRD_PARTY_DELAY_MS = 500
TOKEN = "concurrency-test-token"


def most_at_once(served: list[dict[str, Any]]) -> int:
    """The most requests the server was serving at one moment, from when it logged each one and how
    long it took to serve it (a request ending in the millisecond another begins counts as ended)."""
    edges = []
    for event in served:
        received = event["request"]["loggedDate"]
        edges += [(received, 1), (received + event["timing"]["serveTime"], -1)]
    serving = most = 0
    for _, change in sorted(edges):
        serving += change
        most = max(most, serving)
    return most


def test_eight_slots_serve_eight_requests_at_once_at_the_third_party_and_never_more(cruncan, pipeline):
    pipeline.stub_token_and_third_party(TOKEN, THIRD_PARTY_DELAY_MS)
    pipeline.store_and_publish(REQUESTS)

    worker = cruncan("worker", *pipeline.worker_arguments(CONCURRENCY))
    worker.wait_for_line(WORKER_STARTED)
    eventually(lambda: pipeline.statuses() == {"forwarded": REQUESTS}, f"all {REQUESTS} requests forwarded")
    assert worker.terminate() == 0, worker.output()

    forwarded = [event for event in pipeline.wiremock.served() if event["request"]["url"] == "/three"]
    assert len(forwarded) == REQUESTS
    assert most_at_once(forwarded) == CONCURRENCY
