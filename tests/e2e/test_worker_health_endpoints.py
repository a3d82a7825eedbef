"""`cruncan worker` serves its probes on the real broker, Postgres and WireMock: alive from the start, ready
once the group assigned its partitions, and a port it cannot bind stops it with a configuration error."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request

import pytest

from harness.polling import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

HEALTH = re.compile(r"cruncan worker forwarding .*; health on (http://[0-9.]+:[0-9]+)")


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_worker_is_live_then_ready_with_its_partitions_and_stops_serving_on_sigterm(cruncan, pipeline):
    worker = cruncan("worker", *pipeline.worker_arguments())
    base = worker.wait_for_line(HEALTH).group(1)

    assert get(f"{base}/healthz")[0] == 200
    status, body = eventually(lambda: (answer := get(f"{base}/readyz"))[0] == 200 and answer, "the worker ready", 60)
    assert body["partitions"], body
    assert all(name.startswith(f"{pipeline.topic}[") for name in body["partitions"])
    status, body = get(f"{base}/nowhere")
    assert (status, body["error"]) == (404, "not_found")

    assert worker.terminate() == 0, worker.output()
    with pytest.raises(urllib.error.URLError, match="Connection refused"):
        urllib.request.urlopen(f"{base}/healthz", timeout=2)


def test_a_health_port_in_use_stops_the_worker_naming_the_setting(cruncan, pipeline):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        arguments = [*pipeline.worker_arguments(), "--set", f"worker.health.port={port}"]
        worker = cruncan("worker", *arguments)

        assert worker.process.wait(60) == 2, worker.output()
    assert f"worker.health: cannot listen on 127.0.0.1:{port}" in worker.output()
