"""The waitress internals the shim reads exist, with the types it expects, on a real server;
a waitress upgrade that changes them fails here (and at start-up) instead of in a shutdown."""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from entrypoints.api import waitress_shim
from entrypoints.api.server import WaitressServer

ROOT = Path(__file__).resolve().parents[2]


class Gate:
    """A WSGI app whose requests wait until the test opens the gate."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.entered.set()
        self.open.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def raw_server(gate: Gate) -> Iterator[waitress_shim.WaitressServer]:
    """A waitress server made and run by the shim alone, as `WaitressServer` runs one."""
    raw = waitress_shim.create(
        gate, host="127.0.0.1", port=0, threads=2, ident="test", limits=waitress_shim.HttpLimits()
    )
    loop = threading.Thread(target=waitress_shim.serve, args=(raw,), daemon=True)
    loop.start()
    yield raw
    gate.open.set()
    waitress_shim.in_loop(raw, lambda: waitress_shim.close_connections(raw))
    loop.join(5)
    waitress_shim.stop_threads(raw, timeout_s=1)


@pytest.fixture
def server(gate: Gate) -> Iterator[WaitressServer]:
    running = WaitressServer(gate, host="127.0.0.1", port=0, threads=2)
    running.start()
    yield running
    gate.open.set()
    running.stop(timeout_s=1)


def test_waitress_is_pinned_exactly_to_the_installed_version_and_the_pin_names_the_shim() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"waitress==([^"]+)"', pyproject)

    assert pin is not None, "waitress must be pinned exactly"
    assert pin.group(1) == version("waitress")
    assert "waitress_shim.py" in pyproject[: pin.start()].rsplit("dependencies", 1)[-1]


def test_the_internals_exist_on_an_idle_server_and_one_serving_a_request(
    raw_server: waitress_shim.WaitressServer, gate: Gate
) -> None:
    raw = raw_server
    waitress_shim.check_internals(raw)
    assert not waitress_shim.has_requests_in_flight(raw)

    with socket.create_connection(waitress_shim.address(raw), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert gate.entered.wait(5)

        waitress_shim.check_internals(raw)
        assert waitress_shim.has_requests_in_flight(raw)
        gate.open.set()
        assert client.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_request_still_arriving_counts_as_in_flight(raw_server: waitress_shim.WaitressServer) -> None:
    with socket.create_connection(waitress_shim.address(raw_server), timeout=5) as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        deadline = time.monotonic() + 5
        while not waitress_shim.has_requests_in_flight(raw_server) and time.monotonic() < deadline:
            time.sleep(0.01)

        assert waitress_shim.has_requests_in_flight(raw_server)
        waitress_shim.check_internals(raw_server)


def test_a_server_without_an_internal_is_refused_loudly_naming_it(raw_server: waitress_shim.WaitressServer) -> None:
    class Changed:
        def __init__(self, real: Any) -> None:
            self.effective_host, self.effective_port = real.effective_host, real.effective_port
            self.accepting, self.socket, self.active_channels = real.accepting, real.socket, {}
            self.trigger, self.del_channel, self.run = real.trigger, real.del_channel, real.run
            self.task_dispatcher = real.task_dispatcher

    with pytest.raises(waitress_shim.WaitressChanged, match=r"server\._map is NoneType, not dict"):
        waitress_shim.check_internals(Changed(raw_server))


def test_stop_waits_for_the_request_in_flight_then_closes_idle_connections(server: WaitressServer, gate: Gate) -> None:
    idle = socket.create_connection((server.host, server.port), timeout=5)
    busy = socket.create_connection((server.host, server.port), timeout=5)
    busy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert gate.entered.wait(5)
    threading.Timer(0.3, gate.open.set).start()

    assert server.stop(timeout_s=5)

    assert busy.recv(4096).startswith(b"HTTP/1.1 200")
    assert idle.recv(4096) == b"", "an idle keep-alive connection is closed once the server stops"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1).close()
    idle.close()
    busy.close()


def test_an_event_loop_that_dies_is_seen_logged_and_its_port_closed(
    server: WaitressServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A loop that raised leaves the port open, answered by no one: `running` turns false so that
    `run_until_signalled` shuts the process down instead."""
    assert server.running
    with socket.create_connection((server.host, server.port), timeout=5):
        deadline = time.monotonic() + 5
        while not server.raw.active_channels and time.monotonic() < deadline:
            time.sleep(0.01)
        [channel] = server.raw.active_channels.values()

        def broken() -> bool:
            raise RuntimeError("a readable() that raises")

        channel.readable = broken
        deadline = time.monotonic() + 5
        while server.running and time.monotonic() < deadline:
            time.sleep(0.01)

    assert not server.running
    assert "the HTTP event loop stopped on an error" in caplog.text
    assert "a readable() that raises" in caplog.text
    assert not server.stop(timeout_s=1), "a server whose loop died did not drain"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=1).close()


def test_output_a_request_thread_is_sending_itself_does_not_wake_the_loop(
    raw_server: waitress_shim.WaitressServer, gate: Gate
) -> None:
    """While a request thread holds a connection's output lock (waitress's `write_soon` sends what
    it buffers itself), the loop cannot send that output: asking `select` to wait for the socket
    to be writable would make it return at once, turn after turn, until the thread lets go."""
    with socket.create_connection(waitress_shim.address(raw_server), timeout=5) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert gate.entered.wait(5)
        (channel,) = raw_server.active_channels.values()
        asked: list[bool] = []

        def ask_from_the_loops_side() -> None:
            asked.append(bool(channel.writable()))

        with channel.outbuf_lock:  # as a request thread in `write_soon`, between buffering and sending
            channel.outbufs[-1].append(b"HTTP/1.1 200 OK\r\n")
            channel.total_outbufs_len += len(b"HTTP/1.1 200 OK\r\n")
            assert waitress_shim.HTTPChannel.writable(channel), "waitress alone would ask to write here"
            asker = threading.Thread(target=ask_from_the_loops_side)
            asker.start()
            asker.join(5)
        asker = threading.Thread(target=ask_from_the_loops_side)
        asker.start()
        asker.join(5)

        assert asked == [False, True], "held: nothing the loop could send; released: the loop sends it"
        gate.open.set()
        assert client.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_refusal_whose_client_reset_the_connection_closes_it_and_the_loop_goes_on(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    """Sending a refusal to a client that reset the connection closes it inside `handle_write`,
    which then asks to close it again: the second close must see it closed. Found by the raw-socket
    fuzz test, where it ended the event loop and left the port open and unanswered."""
    server = WaitressServer(gate, host="127.0.0.1", port=0, threads=1)
    server.start()
    try:
        with socket.create_connection((server.host, server.port), timeout=5) as busy:
            busy.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert gate.entered.wait(5), "the only request thread is now held"
            refused = socket.create_connection((server.host, server.port), timeout=5)
            refused.sendall(b"jPOST / HTTP/1.1\r\nHost: x\r\n\r\n")  # queued for the held thread
            deadline = time.monotonic() + 5
            while sum(1 for c in server.raw.active_channels.values() if c.requests) < 2:
                assert time.monotonic() < deadline, "the refused request was never read"
                time.sleep(0.01)
            refused.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            refused.close()  # a reset, before the refusal is written
            gate.open.set()
            assert busy.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")

        time.sleep(0.5)  # the loop writes the refusal into the reset connection
        assert server.running, caplog.text
        with socket.create_connection((server.host, server.port), timeout=5) as client:
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        server.stop(timeout_s=1)


def test_connections_on_descriptors_past_1024_are_served(gate: Gate) -> None:
    """`select()` takes no descriptor from 1024 (FD_SETSIZE) up, and raising on one would end the
    event loop: a process near `http.connection_limit` with its pool, producer and log files open
    gets there. Here the clients' sockets, in the same process, push the server's past it."""
    gate.open.set()
    limit = 1200
    server = WaitressServer(gate, host="127.0.0.1", port=0, threads=2, limits=waitress_shim.HttpLimits(limit))
    server.start()
    clients: list[socket.socket] = []
    try:
        while len(clients) < 600 or clients[-1].fileno() < 1100:
            clients.append(socket.create_connection((server.host, server.port), timeout=5))
        deadline = time.monotonic() + 10
        while len(server.raw.active_channels) < len(clients):
            assert time.monotonic() < deadline, f"{len(server.raw.active_channels)} of {len(clients)} accepted"
            assert server.running, "the event loop died"
            time.sleep(0.05)
        assert max(server.raw.active_channels) >= 1024

        last = clients[-1]
        last.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert last.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
        assert server.running
    finally:
        for client in clients:
            client.close()
        server.stop(timeout_s=1)
