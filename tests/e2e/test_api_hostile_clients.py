"""`cruncan api` against clients that misbehave at the HTTP level, over raw sockets: waitress's own
refusals are JSON, bodies over the limit are refused without being read, and slow or idle
connections are dropped on deadlines, so they cannot lock other clients out."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import ROOT, RunningCommand

MAX_BODY = 1_048_576
BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


class Api:
    """A running `cruncan api` and raw-socket helpers for it."""

    def __init__(self, running: RunningCommand) -> None:
        parts = urlsplit(running.url())
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.running = running
        self.pid = running.process.pid
        self.hung: str | None = None

    def why_hung(self) -> str:
        """What the server was doing when it stopped answering: every thread's stack (SIGUSR1
        makes `cruncan` write them) and the end of its output. Later checks fail at once with it."""
        if self.hung is None:
            os.kill(self.pid, signal.SIGUSR1)
            time.sleep(1)
            tail = "".join(self.running.lines[-200:])
            self.hung = f"the server stopped answering; its stacks and the end of its output:\n{tail}"
        return self.hung

    def connect(self, timeout_s: float = 10) -> socket.socket:
        return socket.create_connection(self.address, timeout=timeout_s)

    def exchange(self, raw: bytes, timeout_s: float = 10) -> tuple[int, dict[str, str], bytes]:
        with self.connect(timeout_s) as client:
            with contextlib.suppress(ConnectionError):
                client.sendall(raw)
            return read_response(client)

    def post(self, body: bytes, timeout_s: float = 10) -> tuple[int, dict[str, str], bytes]:
        head = f"POST /one HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return self.exchange(head.encode() + b"Connection: close\r\n\r\n" + body, timeout_s)

    def largest_open_file(self) -> int:
        """The size of the largest regular file the server holds open (waitress spools bodies to files)."""
        sizes = [0]
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                stat = os.stat(fd)
                if stat.st_mode & 0o170000 == 0o100000:
                    sizes.append(stat.st_size)
        return max(sizes)


def read_response(client: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Reads one response; the status is 0 when the server closed without answering."""
    data = b""
    with contextlib.suppress(ConnectionError):
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
    if b"\r\n\r\n" not in data:
        return 0, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", "0"))
    with contextlib.suppress(ConnectionError):
        while len(body) < length:
            chunk = client.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(status_line.split()[1]), headers, body


def assert_json_error(response: tuple[int, dict[str, str], bytes], status: int, error: str) -> dict[str, str]:
    got_status, headers, body = response
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert document["error"] == error
    assert isinstance(document["detail"], str)
    assert document["detail"]
    return document


@pytest.fixture(scope="module")
def start_api() -> Iterator[Callable[..., Api]]:
    """Starts `cruncan api` (in memory, relay off) with `--set` overrides; stopped after the module."""
    started: list[RunningCommand] = []

    def start(*settings: str) -> Api:
        overrides = [arg for setting in ("relay.embedded=false", *settings) for arg in ("--set", setting)]
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "api", "--port", "0", *overrides],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "OTEL_SDK_DISABLED": "true"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = RunningCommand(process)
        threading.Thread(target=lambda: running.lines.extend(iter(process.stdout.readline, "")), daemon=True).start()
        started.append(running)
        return Api(running)

    yield start
    for running in started:
        running.terminate()


@pytest.fixture(scope="module")
def api(start_api: Callable[..., Api]) -> Api:
    return start_api("http.header_timeout_s=2", "http.body_timeout_s=2")


def chunked(payload: bytes, size: int = 65536) -> bytes:
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def body_of_exactly(size: int) -> bytes:
    """A valid request body of exactly `size` bytes (JSON allows trailing whitespace)."""
    text = json.dumps(BODY).encode()
    return text + b" " * (size - len(text))


TOO_LARGE = "request_header_fields_too_large"
POST_HEAD = b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

# What waitress refuses before the application sees the request: each answered in JSON, status
# and `error` named, and the connection closed.
REFUSED_BY_THE_SERVER = {
    "bad chunk size": (POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "bad_request"),
    "chunk not terminated": (POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n", 400, "bad_request"),
    "non-numeric Content-Length": (POST_HEAD + b"Content-Length: abc\r\n\r\n{}", 400, "bad_request"),
    "negative Content-Length": (POST_HEAD + b"Content-Length: -1\r\n\r\n{}", 400, "bad_request"),
    "two Content-Lengths": (POST_HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} ", 400, "bad_request"),
    "two equal Content-Lengths": (POST_HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request"),
    "malformed request line": (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    "lower-case method": (b"get /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
    "header without a colon": (b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "bad_request"),
    "NUL byte in a header value": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "bad_request"),
    "NUL byte in a header name": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n", 400, "bad_request"),
    "bare LF in a header": (b"GET /healthz HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400, "bad_request"),
    "headers too large": (
        b"GET /healthz HTTP/1.1\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
        431,
        "request_header_fields_too_large",
    ),
    "request line too long": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 431, "request_header_fields_too_large"),
    "a transfer coding the server lacks": (
        POST_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        501,
        "unsupported_transfer_encoding",
    ),
    "no chunked": (POST_HEAD + b"Transfer-Encoding: gzip\r\n\r\n{}", 400, "bad_request"),
    "chunked not last": (POST_HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n{}", 400, "bad_request"),
    "chunked twice": (
        POST_HEAD + b"Transfer-Encoding: chunked, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
        "bad_request",
    ),
    "chunked on two lines": (
        POST_HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400,
        "bad_request",
    ),
    "Content-Length over the limit": (
        POST_HEAD + b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1),
        413,
        "body_too_large",
    ),
}


@pytest.mark.parametrize(("raw", "status", "error"), REFUSED_BY_THE_SERVER.values(), ids=REFUSED_BY_THE_SERVER.keys())
def test_what_the_server_refuses_itself_is_answered_in_json(api: Api, raw: bytes, status: int, error: str) -> None:
    response = api.exchange(raw)

    document = assert_json_error(response, status, error)
    assert response[1].get("connection") == "close"
    assert len(document["detail"]) <= 203, "a detail never echoes a long hostile input back"


def test_a_nul_byte_in_the_path_is_a_json_404_not_a_crash(api: Api) -> None:
    response = api.exchange(b"GET /one/\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    assert response[0] in {400, 404}
    assert response[1]["content-type"] == "application/json"


def test_a_body_of_exactly_the_limit_is_accepted_with_a_length_and_chunked(api: Api) -> None:
    body = body_of_exactly(MAX_BODY)

    assert api.post(body)[0] == 201
    with api.connect() as client:
        client.sendall(POST_HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(body))
        assert read_response(client)[0] == 201


def test_a_client_that_sends_its_oversized_body_anyway_still_reads_the_refusal(api: Api) -> None:
    for _ in range(5):  # closing with the body unread would reset the connection before the answer is read
        with api.connect() as client:
            with contextlib.suppress(ConnectionError):
                client.sendall(POST_HEAD + b"Content-Length: %d\r\n\r\n" % (3 * MAX_BODY) + b"x" * 3 * MAX_BODY)
            assert_json_error(read_response(client), 413, "body_too_large")


def test_a_body_one_byte_over_the_limit_is_refused_with_a_length_and_chunked(api: Api) -> None:
    body = body_of_exactly(MAX_BODY + 1)

    assert_json_error(api.post(body), 413, "body_too_large")
    with api.connect() as client:
        with contextlib.suppress(ConnectionError):
            client.sendall(POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body))
        assert_json_error(read_response(client), 413, "body_too_large")


def test_an_oversized_length_is_refused_before_any_of_the_body_is_sent(api: Api) -> None:
    with api.connect() as client:
        client.sendall(POST_HEAD + b"Content-Length: %d\r\n\r\n" % (256 * MAX_BODY))

        assert_json_error(read_response(client), 413, "body_too_large")


def test_a_huge_chunked_upload_is_refused_early_and_never_buffered(api: Api) -> None:
    total = 256 * 1024 * 1024
    block = chunked(b"x" * 65536).removesuffix(b"0\r\n\r\n")
    sent = [0]
    largest_file = [0]
    done = threading.Event()

    def upload(client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            client.sendall(POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
            while sent[0] < total:
                client.sendall(block)
                sent[0] += len(block)
        done.set()

    def watch_files() -> None:
        while not done.is_set():
            largest_file[0] = max(largest_file[0], api.largest_open_file())
            time.sleep(0.01)

    with api.connect(timeout_s=30) as client:
        uploader = threading.Thread(target=upload, args=(client,))
        watcher = threading.Thread(target=watch_files)
        uploader.start()
        watcher.start()
        response = read_response(client)
        client.shutdown(socket.SHUT_RDWR)
        uploader.join(30)
        done.set()
        watcher.join(5)

    assert_json_error(response, 413, "body_too_large")
    assert sent[0] < total // 8, f"the server read {sent[0]} bytes of a refused body"
    assert largest_file[0] < 4 * MAX_BODY, "the server spooled the refused body to a file"


def trickle(sockets: list[socket.socket], stop: threading.Event, every_s: float = 1.0) -> None:
    """Sends each socket one more byte of a request line every `every_s`, as a slowloris client does."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    position = 0
    while not stop.wait(every_s):
        for connection in sockets:
            with contextlib.suppress(OSError):
                connection.send(request[position : position + 1])
        position += 1


@contextlib.contextmanager
def slow_clients(api: Api, count: int) -> Iterator[list[socket.socket]]:
    sockets = [socket.create_connection(api.address, timeout=10) for _ in range(count)]
    stop = threading.Event()
    trickler = threading.Thread(target=trickle, args=(sockets, stop), daemon=True)
    trickler.start()
    try:
        yield sockets
    finally:
        stop.set()
        trickler.join(10)
        for connection in sockets:
            connection.close()


def test_hundreds_of_slow_connections_do_not_lock_out_a_well_behaved_client(start_api: Callable[..., Api]) -> None:
    api = start_api()  # the shipped limits

    with slow_clients(api, 300):
        time.sleep(1)
        status, _, body = api.post(json.dumps(BODY).encode(), timeout_s=30)

    assert status == 201, body


def test_past_the_connection_limit_the_header_deadline_frees_room_for_others(start_api: Callable[..., Api]) -> None:
    api = start_api("http.connection_limit=20", "http.header_timeout_s=1")

    with slow_clients(api, 60):
        status, _, body = api.post(json.dumps(BODY).encode(), timeout_s=60)

    assert status == 201, body


def test_a_client_trickling_its_headers_is_dropped_at_the_deadline_without_an_answer(api: Api) -> None:
    with slow_clients(api, 1) as [slow]:
        slow.settimeout(30)
        assert read_response(slow) == (0, {}, b""), "dropped unanswered although it kept sending"


def test_a_connection_that_sends_nothing_is_dropped_at_the_header_deadline(api: Api) -> None:
    with api.connect(timeout_s=30) as idle:
        assert read_response(idle) == (0, {}, b"")


def test_a_body_slower_than_its_deadline_is_answered_408_and_dropped(api: Api) -> None:
    with api.connect(timeout_s=30) as client:
        client.sendall(POST_HEAD + b"Content-Length: 100\r\n\r\n{")
        stop = threading.Event()

        def trickle_body() -> None:
            while not stop.wait(0.3):
                with contextlib.suppress(OSError):
                    client.send(b" ")

        trickler = threading.Thread(target=trickle_body)
        trickler.start()
        try:
            response = read_response(client)
        finally:
            stop.set()
            trickler.join(5)

    assert_json_error(response, 408, "request_timeout")


def test_a_kept_alive_connection_serves_requests_in_turn_within_the_deadlines(api: Api) -> None:
    with api.connect() as client:
        for _ in range(3):
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(client)[0] == 200
            time.sleep(2.5)
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(client)[0] == 200, "a kept-alive idle connection is governed by the idle timeout"


VALID_HEAD = b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def mutated(data: st.DataObject) -> bytes:
    """A valid request with bytes replaced, inserted or cut, or bytes of no request at all."""
    raw = bytearray(VALID_HEAD)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw)))
        noise = data.draw(
            st.binary(min_size=1, max_size=8) | st.sampled_from([b"\x00", b"\r", b"\n", b":", b" ", b"\t"])
        )
        match data.draw(st.sampled_from(["replace", "insert", "cut"])):
            case "replace":
                raw[position : position + len(noise)] = noise
            case "insert":
                raw[position:position] = noise
            case "cut":
                del raw[position : position + len(noise)]
    return bytes(raw)


@given(data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_requests_get_json_errors_or_a_closed_connection_never_a_crash(api: Api, data: st.DataObject) -> None:
    assert api.hung is None, api.hung
    raw = data.draw(st.binary(max_size=200)) if data.draw(st.booleans()) else mutated(data)

    with api.connect(timeout_s=10) as client:
        with contextlib.suppress(ConnectionError):
            client.sendall(raw)
            client.shutdown(socket.SHUT_WR)
        try:
            status, headers, body = read_response(client)
        except TimeoutError:
            raise AssertionError(f"no answer to {raw!r} within 10 s; {api.why_hung()}") from None

    assert status != 500, body
    if status >= 400:
        assert headers.get("content-type") == "application/json", (raw, status, body)
        assert set(json.loads(body)) >= {"error", "detail"}
