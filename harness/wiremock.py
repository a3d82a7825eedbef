"""The real WireMock server (the standalone jar of the `wiremock` package, run on Java), its admin API,
and the requests the token API and the third party must receive.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import urllib3

from harness.errors import ServerUnavailable
from harness.network import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
JAVA_HINT = "WireMock runs on Java 17: install a Java runtime (Debian: apt-get install openjdk-17-jre-headless)"
JAR_HINT = "the standalone jar ships with the `wiremock` package: pip install -e '.[dev]'"

Json = dict[str, Any]


class WireMock:
    """A running WireMock server: its URL, and its admin API for stubs and the request journal."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=10.0))

    def stub(self, request: Mapping[str, Any], response: Mapping[str, Any], **mapping: Any) -> str:
        """Answers requests matching `request` with `response`; returns the stub's id."""
        created = self._admin("POST", "/mappings", {"request": request, "response": response, **mapping})
        return str(created["id"])

    def stub_sequence(self, request: Mapping[str, Any], responses: Sequence[Mapping[str, Any]], **extra: Any) -> None:
        """Answers matching requests with `responses` in turn, then with the last one for ever
        (a WireMock scenario; "fail twice then succeed" is `[fail, fail, succeed]`)."""
        scenario = f"sequence-{uuid.uuid4()}"
        states = ["Started"] + [f"answered-{n}" for n in range(1, len(responses))]
        for n, response in enumerate(responses):
            mapping: Json = {**extra, "scenarioName": scenario, "requiredScenarioState": states[n]}
            if n + 1 < len(responses):
                mapping["newScenarioState"] = states[n + 1]
            self.stub(request, response, **mapping)

    def requests(self, pattern: Mapping[str, Any] | None = None) -> list[Json]:
        """The requests received that match `pattern` (all of them by default), as WireMock logged them."""
        found = self._admin("POST", "/requests/find", pattern or {"method": "ANY", "urlPattern": ".*"})
        return list(found["requests"])

    def served(self) -> list[Json]:
        """Every request received, oldest first, each with the response WireMock chose for it
        (`request`, `responseDefinition`)."""
        return list(reversed(self._admin("GET", "/requests")["requests"]))

    def count(self, pattern: Mapping[str, Any]) -> int:
        return int(self._admin("POST", "/requests/count", pattern)["count"])

    def unmatched(self) -> list[Json]:
        """Requests no stub matched: the first thing to look at when a stub did not answer."""
        return list(self._admin("GET", "/requests/unmatched")["requests"])

    def reset(self) -> None:
        self._admin("POST", "/reset")
        self._admin("POST", "/scenarios/reset")

    def is_up(self) -> bool:
        try:
            return self._http.request("GET", f"{self.base_url}/__admin/mappings").status == 200
        except urllib3.exceptions.HTTPError:
            return False

    def close(self) -> None:
        self._http.clear()

    def _admin(self, method: str, path: str, document: Mapping[str, Any] | None = None) -> Json:
        body = None if document is None else json.dumps(document).encode()
        response = self._http.request(
            method, f"{self.base_url}/__admin{path}", body=body, headers={"Content-Type": "application/json"}
        )
        if response.status >= 300:
            raise AssertionError(f"WireMock admin {method} {path} answered {response.status}: {response.data!r}")
        return json.loads(response.data) if response.data else {}


def token_request(client_id: str, client_secret: str, scope: str = "general") -> Json:
    """Matches exactly the client credentials request the token client must send."""
    return {
        "method": "POST",
        "url": "/v2/oauth/token",
        "headers": {"Content-Type": {"equalTo": "application/x-www-form-urlencoded"}},
        "basicAuthCredentials": {"username": client_id, "password": client_secret},
        "bodyPatterns": [{"equalTo": f"grant_type=client_credentials&scope={scope}"}],
    }


def token_response(access_token: str, expires_in: object = 3600, status: int = 200) -> Json:
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
    return {"status": status, "headers": {"Content-Type": "application/json"}, "jsonBody": body}


def three_request(body: Mapping[str, Any], access_token: str) -> Json:
    """Matches exactly the request the third party must receive for `body` (the ThreeRequest JSON)."""
    return {
        **_forward(access_token, idempotency_key={"equalTo": body["id"]}),
        "bodyPatterns": [{"equalToJson": body, "ignoreArrayOrder": False, "ignoreExtraElements": False}],
    }


def any_three_request(access_token: str) -> Json:
    """Matches every ThreeRequest sent with `access_token`, whichever request it forwards."""
    return {
        **_forward(access_token, idempotency_key={"matches": "[0-9]{20}"}),
        "bodyPatterns": [{"matchesJsonPath": "$.one_request.user_id"}],
    }


def _forward(access_token: str, idempotency_key: Json) -> Json:
    return {
        "method": "POST",
        "url": "/three",
        "headers": {
            "Content-Type": {"equalTo": "application/json"},
            "language": {"equalTo": "en"},
            "Authorization": {"equalTo": f"Bearer {access_token}"},
            "Idempotency-Key": idempotency_key,
        },
    }


@contextlib.contextmanager
def running_wiremock(root: Path) -> Iterator[WireMock]:
    """A WireMock on a free port, its files and log under `root`, stopped after the block;
    raises `ServerUnavailable` if Java or the jar is missing or the server does not come up."""
    java = shutil.which("java")
    if java is None:
        raise ServerUnavailable(f"`java` is not on PATH. {JAVA_HINT}")
    jar = _standalone_jar()
    for folder in ("mappings", "__files"):
        (root / folder).mkdir(exist_ok=True)
    port = free_port()
    log_path = root / "wiremock.log"
    command = [java, "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1"]
    command += ["--root-dir", str(root), "--disable-banner"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = WireMock(f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(server, process, log_path)
        yield server
    finally:
        server.close()
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _standalone_jar() -> Path:
    try:
        from wiremock.server.server import WireMockServer
    except ImportError as exc:
        raise ServerUnavailable(f"the `wiremock` package is not installed; {JAR_HINT}") from exc
    jar = Path(WireMockServer.DEFAULT_JAR)
    if not jar.is_file():
        raise ServerUnavailable(f"the WireMock standalone jar is missing at {jar}; {JAR_HINT}")
    return jar


def _wait_until_up(server: WireMock, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerUnavailable(f"WireMock exited with status {process.returncode} on start:\n{_tail(log_path)}")
        if server.is_up():
            return
        time.sleep(0.1)
    waited = f"WireMock did not answer on {server.base_url}/__admin within {START_TIMEOUT_S:.0f} s"
    raise ServerUnavailable(f"{waited}:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
