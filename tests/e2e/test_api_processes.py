"""`http.processes=2`: one `cruncan api` supervising two processes on one socket, as real processes on
Postgres (and Tansu for the relays), stopped, killed and orphaned."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.kafka import published_keys
from harness.polling import eventually
from harness.tansu import TansuBroker
from tests.e2e.conftest import RunningCommand
from tests.e2e.test_outbox_delivery import Client, stack_env, statuses, unsent

pytestmark = pytest.mark.postgres

Cruncan = Callable[..., RunningCommand]
BODY = json.dumps({"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}).encode()
HEAD = f"POST /one HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
SERVING = re.compile(r"http process (\d)/2 \(pid (\d+)\) serving")


def on_postgres(dsn: str, **settings: str) -> dict[str, str]:
    return {
        "CRUNCAN_STORAGE__BACKEND": "postgres",
        "CRUNCAN_STORAGE__POSTGRES__DSN": dsn,
        "CRUNCAN_HTTP__PROCESSES": "2",
        "CRUNCAN_LOGGING__FORMAT": "json",
        **{f"CRUNCAN_{name}": value for name, value in settings.items()},
    }


def children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _state(stat: Path) -> str:
    """The state letter of proc(5)'s stat file: R running, S sleeping, T stopped, Z zombie..."""
    return stat.read_text().rpartition(")")[2].split()[0]


def alive(pid: int) -> bool:
    try:
        return _state(Path(f"/proc/{pid}/stat")) != "Z"
    except FileNotFoundError:
        return False


def stopped(pid: int) -> bool:
    """Whether every thread of `pid` has stopped: a SIGSTOP takes effect some time after `kill` returns."""
    return all(_state(task / "stat") == "T" for task in Path(f"/proc/{pid}/task").iterdir())


def serving(api: RunningCommand) -> dict[int, int]:
    """The PID of each of the two processes by number, once the API says it listens: the ones it
    started, each of which said it serves."""
    api.url()
    said = {int(match.group(1)): int(match.group(2)) for line in api.lines if (match := SERVING.search(line))}
    assert set(said.values()) == children(api.process.pid), api.output()
    assert sorted(said) == [1, 2]
    return said


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def refuses_connections(url: str) -> bool:
    try:
        connect(url).close()
    except OSError:
        return True
    return False


def _hex_address(address: tuple[str, int]) -> str:
    """An IPv4 address as /proc/net/tcp writes it: the address in host byte order, then the port, in hex."""
    host, port = address
    return f"{struct.unpack('<I', socket.inet_aton(host))[0]:08X}:{port:04X}"


def accepted_by(client: socket.socket, pids: set[int]) -> int | None:
    """Which of `pids` holds the server's end of `client`'s connection; None while it waits to be accepted."""
    peer = _hex_address(client.getsockname())
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    inodes = {row[9] for row in rows if row[2] == peer and row[9] != "0"}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:
                continue
            if target.removeprefix("socket:[").removesuffix("]") in inodes:
                return pid
    return None


@contextmanager
def only_serving(pid: int, pids: set[int]) -> Iterator[None]:
    """Freezes every process of `pids` but `pid` (SIGSTOP), so that `pid` accepts every new connection."""
    frozen = pids - {pid}
    try:
        for other in frozen:
            os.kill(other, signal.SIGSTOP)
        eventually(lambda: all(stopped(other) for other in frozen), "the other processes to stop")
        yield
    finally:
        for other in frozen:
            os.kill(other, signal.SIGCONT)


def open_request(url: str, pid: int, pids: set[int]) -> socket.socket:
    """A connection `pid` accepted, carrying the first bytes of a `POST /one`: a request in flight."""
    with only_serving(pid, pids):
        client = connect(url)
        client.sendall(HEAD.encode() + BODY[:10])
        eventually(lambda: accepted_by(client, pids) == pid, f"process {pid} accepting the connection")
    return client


def finish(client: socket.socket) -> http.client.HTTPResponse:
    client.sendall(BODY[10:])
    answer = http.client.HTTPResponse(client)
    answer.begin()
    return answer


def test_two_processes_serve_one_port_and_the_api_says_it_listens_once(cruncan: Cruncan, clean_postgres: str):
    api = cruncan("api", "--port", "0", env=on_postgres(clean_postgres, RELAY__EMBEDDED="false"))
    pids = set(serving(api).values())
    url = api.url()

    answered_by: dict[str, int] = {}
    for pid in sorted(pids):
        answer = finish(open_request(url, pid, pids))
        assert answer.status == 201
        answered_by[json.loads(answer.read())["request_id"]] = pid

    assert sorted(answered_by.values()) == sorted(pids)
    client = Client(url)
    assert {client.status(request_id) for request_id in answered_by} == {"accepted"}
    logged = [json.loads(line) for line in api.lines if '"http.route": "/one"' in line]
    assert {(record["cruncan.request.id"], record["process.pid"]) for record in logged} == set(answered_by.items())
    assert sum("listening on" in line for line in api.lines) == 1
    assert api.terminate() == 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_sigint_lets_every_process_finish_its_request_in_flight(
    cruncan: Cruncan, clean_postgres: str, stop: signal.Signals
):
    api = cruncan("api", "--port", "0", env=on_postgres(clean_postgres, RELAY__EMBEDDED="false"))
    pids = set(serving(api).values())
    url = api.url()
    in_flight = [open_request(url, pid, pids) for pid in sorted(pids)]

    api.process.send_signal(stop)
    eventually(lambda: refuses_connections(url), f"every process to stop accepting once {stop.name} arrives")
    answers = [finish(client) for client in in_flight]

    assert [answer.status for answer in answers] == [201, 201]
    assert api.process.wait(30) == 0, api.output()
    assert api.output().count("stopping http server") == 2
    assert not any(alive(pid) for pid in pids)


def test_a_process_that_dies_stops_the_other_and_the_api_exits_non_zero(cruncan: Cruncan, clean_postgres: str):
    api = cruncan("api", "--port", "0", env=on_postgres(clean_postgres, RELAY__EMBEDDED="false"))
    pids = serving(api)
    doomed, survivor = pids[1], pids[2]
    url = api.url()
    in_flight = open_request(url, survivor, {doomed, survivor})

    os.kill(doomed, signal.SIGKILL)

    assert finish(in_flight).status == 201, "the survivor drains what it was serving"
    assert api.process.wait(30) == 1, api.output()
    assert f"http process 1/2 (pid {doomed}) exited unasked with signal SIGKILL; stopping the others" in api.output()
    assert f"stopping http process 2/2 (pid {survivor})" in api.output()
    assert not alive(survivor)
    assert refuses_connections(url)


def test_the_processes_stop_when_their_supervisor_is_killed(cruncan: Cruncan, clean_postgres: str):
    api = cruncan("api", "--port", "0", env=on_postgres(clean_postgres, RELAY__EMBEDDED="false"))
    pids = set(serving(api).values())
    url = api.url()

    api.process.send_signal(signal.SIGKILL)
    api.process.wait(10)

    eventually(lambda: not any(alive(pid) for pid in pids), "both processes to notice and stop")
    assert "the supervising cruncan api" in api.output()
    assert refuses_connections(url)


@pytest.mark.kafka
def test_two_processes_with_embedded_relays_publish_every_request_exactly_once(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
):
    env = stack_env(clean_postgres, kafka_broker, fresh_topic, RELAY__BATCH_SIZE="5", HTTP__PROCESSES="2")
    api = cruncan("api", "--port", "0", env=env)
    pids = set(serving(api).values())
    client = Client(api.url())

    with ThreadPoolExecutor(max_workers=8) as pool:
        request_ids = list(pool.map(lambda _: client.create(), range(120)))

    eventually(lambda: unsent(clean_postgres) == 0, "every message marked sent")
    assert len(set(request_ids)) == 120
    assert set(statuses(clean_postgres).values()) == {"published"}
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == sorted(request_ids)
    assert api.terminate() == 0
    assert not any(alive(pid) for pid in pids)
