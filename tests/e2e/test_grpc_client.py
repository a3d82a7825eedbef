"""`cruncan demo` serves gRPC beside HTTP, and `cruncan submit` is a client of it: one store behind both."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import urllib3

from harness.polling import eventually
from tests.e2e.conftest import ROOT

GRPC_TARGET = re.compile(r"gRPC \(cruncan.one.v1.OneService, with reflection\) on ([\d.]+:\d+)")


def submit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "submit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_request_submitted_over_grpc_is_forwarded_and_readable_over_both_protocols(cruncan):
    demo = cruncan("demo", "--port", "0", "--set", "demo.stand_in_port=0", "--set", "grpc.port=0")
    url = demo.url()
    target = demo.wait_for_line(GRPC_TARGET).group(1)
    assert f'grpcurl -plaintext -d \'{{"user_id": "user-1", "prompt": "hello"}}\' {target}' in demo.output()

    submitted = submit(
        "--target", target, '{"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'
    )
    assert submitted.returncode == 0, submitted.stderr
    request_id = json.loads(submitted.stdout)["request_id"]

    def forwarded() -> dict[str, object] | None:
        read = submit("--target", target, "--get", request_id)
        document: dict[str, object] = json.loads(read.stdout)
        return document if document["status"] == "REQUEST_STATUS_FORWARDED" else None

    document = eventually(forwarded, "the gRPC-submitted request forwarded", timeout_s=20)
    assert document["request"] == {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}
    over_http = urllib3.PoolManager().request("GET", f"{url}/one/{request_id}").json()
    assert over_http["status"] == "forwarded"
    assert demo.terminate() == 0


def test_submit_explains_a_refusal_and_exits_non_zero(cruncan):
    demo = cruncan("demo", "--port", "0", "--set", "demo.stand_in_port=0", "--set", "grpc.port=0")
    target = demo.wait_for_line(GRPC_TARGET).group(1)

    refused = submit("--target", target, '{"user_id": "u", "data": [{"key": "", "value": "v"}]}')
    malformed = submit("--target", target, '{"user_id": ')
    mistyped = submit("--target", target, '{"user_id": 5}')
    unknown = submit("--target", target, "--get", "00000000000000000001")

    assert (refused.returncode, refused.stderr.strip()) == (
        1,
        "cruncan submit: INVALID_ARGUMENT: data[0].key: must not be empty (field data[0].key)",
    )
    assert malformed.returncode == 2
    assert "the body is not valid JSON" in malformed.stderr
    assert mistyped.returncode == 1
    assert "not a SubmitRequest" in mistyped.stderr
    assert unknown.returncode == 1
    assert "NOT_FOUND" in unknown.stderr
    assert demo.terminate() == 0


TOKEN = re.compile(r"TOKEN=(\S+)")


def test_demo_with_auth_prints_a_token_that_both_protocols_accept_and_refuses_without_it(cruncan):
    demo = cruncan("demo", "--auth", "--port", "0", "--set", "demo.stand_in_port=0", "--set", "grpc.port=0")
    url = demo.url()
    target = demo.wait_for_line(GRPC_TARGET).group(1)
    token = demo.wait_for_line(TOKEN).group(1)
    http = urllib3.PoolManager()
    body = {"user_id": "user-1", "prompt": "hello"}

    anonymous = http.request("POST", f"{url}/one", json=body)
    created = http.request("POST", f"{url}/one", json=body, headers={"Authorization": f"Bearer {token}"})
    over_grpc = submit("--target", target, "--token", token, json.dumps(body))
    refused_over_grpc = submit("--target", target, json.dumps(body))

    assert anonymous.status == 401
    assert created.status == 201
    assert over_grpc.returncode == 0, over_grpc.stderr
    read = submit("--target", target, "--token", token, "--get", json.loads(over_grpc.stdout)["request_id"])
    assert json.loads(read.stdout)["submitted_by"] == "demo-user"
    assert refused_over_grpc.returncode == 1
    assert "UNAUTHENTICATED" in refused_over_grpc.stderr
    assert http.request("GET", f"{url}/healthz").status == 200
    assert demo.terminate() == 0


def test_auth_enabled_without_an_issuer_stops_start_up_naming_the_setting():
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "grpc", "--port", "0", "--set", "auth.enabled=true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "setting auth.jwks_url is required when auth.enabled is true" in result.stderr
