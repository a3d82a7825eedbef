"""What `cruncan api` writes to stdout: one access line per request, as JSON or as readable text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import urllib3

from tests.e2e.conftest import RunningCommand

ACCESS = "entrypoints.api.access_log"
BODY = {"user_id": "user-1", "prompt": "hello"}


def serve(cruncan: Callable[..., RunningCommand], *settings: str) -> tuple[RunningCommand, str]:
    api = cruncan("api", "--port", "0", "--set", "relay.embedded=false", *(f"--set={s}" for s in settings))
    return api, api.url()


def test_each_request_is_one_json_access_line_with_its_request_and_trace_ids(
    cruncan: Callable[..., RunningCommand],
) -> None:
    api, url = serve(cruncan)
    http = urllib3.PoolManager(retries=False, timeout=10)
    request_id = http.request("POST", f"{url}/one", json=BODY).json()["request_id"]
    http.request("GET", f"{url}/one/{request_id}")
    http.request("GET", f"{url}/nowhere")
    assert api.terminate() == 0

    records = [json.loads(line) for line in api.output().splitlines() if line.startswith("{")]
    access = [record for record in records if record["logger"] == ACCESS]
    assert [
        (r["http.request.method"], r["http.route"], r["http.response.status_code"], r.get("cruncan.request.id"))
        for r in access
    ] == [
        ("POST", "/one", 201, request_id),
        ("GET", "/one/<request_id>", 200, request_id),
        ("GET", "(no route)", 404, None),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", record["trace_id"]) for record in access)
    assert all(record["http.server.duration_ms"] >= 0 for record in access)


def test_the_console_format_is_one_readable_line_per_record(cruncan: Callable[..., RunningCommand]) -> None:
    api, url = serve(cruncan, "logging.format=console")
    request_id = urllib3.request("POST", f"{url}/one", json=BODY, retries=False).json()["request_id"]
    assert api.terminate() == 0

    output = api.output()
    assert not any(line.startswith("{") for line in output.splitlines())
    assert "\x1b[" not in output, "no colour: stdout is a pipe"
    pattern = (
        rf"^\d\d:\d\d:\d\d\.\d{{3}} INFO +{ACCESS}: POST /one 201 [\d.]+ ms request_id={request_id}"
        r" trace_id=[0-9a-f]{32}$"
    )
    assert re.search(pattern, output, re.MULTILINE), output
