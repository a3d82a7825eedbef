"""How the gRPC server keeps its clients' connections, on a real server with real clients and small
limits: an idle connection is closed, a busy one once it is old (so that clients behind a Kubernetes
Service spread over pods added since), a client that stops answering pings is dropped, and one that pings
more often than allowed is sent away while one within the allowance is not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.component.grpc_world import running_grpc

pytestmark = [pytest.mark.postgres]

WAIT_S = 20  # a bound on waiting for what the limits under test cause within a second or so
LIVENESS = health_pb2.HealthCheckRequest()


class Connectivity:
    """The states a channel goes through, as gRPC reports them."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.states: list[grpc.ChannelConnectivity] = []
        self._changed = threading.Condition()
        channel.subscribe(self._record, try_to_connect=False)

    def _record(self, state: grpc.ChannelConnectivity) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def dropped(self) -> bool:
        """Whether the channel was connected and has since lost its connection (back to IDLE)."""
        with self._changed:
            states = list(self.states)
        ready = grpc.ChannelConnectivity.READY
        return ready in states and grpc.ChannelConnectivity.IDLE in states[states.index(ready) :]

    def wait_until_dropped(self) -> bool:
        with self._changed:
            return self._changed.wait_for(self.dropped, timeout=WAIT_S)


@contextmanager
def served(dsn: str, *settings: str, client_options: Sequence[tuple[str, int]] = ()) -> Iterator[grpc.Channel]:
    """A channel of its own, with `client_options`, to `cruncan grpc` running with `settings`."""
    with running_grpc(dsn, *settings) as running, grpc.insecure_channel(running.server.target, client_options) as made:
        yield made


@contextmanager
def peer_of(dsn: str, *settings: str) -> Iterator[Http2Peer]:
    with running_grpc(dsn, *settings) as running:
        peer = Http2Peer(running.server.target)
        try:
            yield peer
        finally:
            peer.socket.close()


def check(channel: grpc.Channel) -> None:
    health_pb2_grpc.HealthStub(channel).Check(LIVENESS, timeout=10)  # type: ignore[no-untyped-call]


def test_a_connection_without_rpcs_is_closed_after_max_connection_idle(clean_postgres: str) -> None:
    with served(clean_postgres, "grpc.max_connection_idle_ms=300") as channel:
        connectivity = Connectivity(channel)
        check(channel)

        assert connectivity.wait_until_dropped(), connectivity.states
        check(channel)  # the client connects again when it next calls


AGED = ("grpc.max_connection_age_ms=500", "grpc.max_connection_age_grace_ms=5000", "grpc.max_connection_idle_ms=0")


def test_a_busy_connection_is_closed_once_older_than_max_connection_age_and_no_rpc_fails(clean_postgres: str) -> None:
    with served(clean_postgres, *AGED) as channel:
        connectivity = Connectivity(channel)
        deadline = time.monotonic() + WAIT_S
        while not connectivity.dropped() and time.monotonic() < deadline:
            check(channel)  # raises if the closing fails a call
            time.sleep(0.02)

        assert connectivity.dropped(), connectivity.states
        check(channel)


class Http2Peer:
    """A bare HTTP/2 client over a socket: it settles the connection's settings, then sends and
    answers pings only as the test says, so it can ping too often or fall silent as no gRPC client does."""

    PING, GOAWAY, SETTINGS, ACK = 6, 7, 4, 1

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.socket = socket.create_connection((host, int(port)), timeout=WAIT_S)
        self.socket.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(self.SETTINGS, 0, b""))

    @staticmethod
    def frame(kind: int, flags: int, payload: bytes) -> bytes:
        return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + (0).to_bytes(4, "big") + payload

    def ping(self, data: bytes) -> None:
        self.socket.sendall(self.frame(self.PING, 0, data))

    def next_frame(self) -> tuple[int, int, bytes] | None:
        """The server's next frame on the connection (stream 0), its settings acknowledged;
        None once the server has closed the connection."""
        while True:
            head = self._read(9)
            if head is None:
                return None
            body = self._read(int.from_bytes(head[:3], "big")) or b""
            kind, flags = head[3], head[4]
            if kind == self.SETTINGS and not flags & self.ACK:
                self.socket.sendall(self.frame(self.SETTINGS, self.ACK, b""))
            elif kind in (self.PING, self.GOAWAY):
                return kind, flags, body

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = self.socket.recv(size - len(data))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def ping_acks_until_goaway(self, pings: int, gap_s: float) -> tuple[int, bytes | None]:
        """Sends `pings` pings `gap_s` apart, each after the previous one's acknowledgement; returns how
        many were acknowledged, and the debug text of the GOAWAY that ended the connection, if one did."""
        acknowledged = 0
        for number in range(pings):
            time.sleep(gap_s if number else 0)
            self.ping(number.to_bytes(8, "big"))
            while (received := self.next_frame()) is not None:
                kind, flags, body = received
                if kind == self.GOAWAY:
                    return acknowledged, body[8:]
                if kind == self.PING and flags & self.ACK:
                    acknowledged += 1
                    break
                self.socket.sendall(self.frame(self.PING, self.ACK, body))  # the server's own keepalive
            else:
                return acknowledged, None
        return acknowledged, None


def test_a_client_that_leaves_the_servers_keepalive_ping_unanswered_is_dropped(clean_postgres: str) -> None:
    with peer_of(clean_postgres, "grpc.keepalive_time_ms=300", "grpc.keepalive_timeout_ms=300") as peer:
        ping = peer.next_frame()
        goaway = peer.next_frame()  # the ping left unanswered
        closed = peer.next_frame()

    assert ping is not None
    assert (ping[0], ping[1] & Http2Peer.ACK) == (Http2Peer.PING, 0)
    assert goaway is not None
    assert (goaway[0], goaway[2][8:]) == (Http2Peer.GOAWAY, b"ping_timeout")
    assert closed is None


def test_a_client_pinging_no_more_often_than_allowed_is_never_sent_away(clean_postgres: str) -> None:
    """gRPC's own defaults would send it away: 5 minutes between pings, and 2 hours without RPCs."""
    with peer_of(clean_postgres, "grpc.min_ping_interval_without_data_ms=100", "grpc.max_ping_strikes=2") as peer:
        assert peer.ping_acks_until_goaway(pings=5, gap_s=0.3) == (5, None)


def test_a_client_pinging_more_often_than_allowed_is_sent_away_with_too_many_pings(clean_postgres: str) -> None:
    with peer_of(clean_postgres, "grpc.min_ping_interval_without_data_ms=60000", "grpc.max_ping_strikes=2") as peer:
        acknowledged, reason = peer.ping_acks_until_goaway(pings=10, gap_s=0)

    assert reason == b"too_many_pings"
    assert acknowledged >= 3, "the first ping and max_ping_strikes more are borne"


AGGRESSIVE_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 100),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def test_a_grpc_client_with_aggressive_keepalive_loses_its_connection_with_too_many_pings(
    clean_postgres: str, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = "grpc.min_ping_interval_without_data_ms=60000"
    with served(clean_postgres, settings, client_options=AGGRESSIVE_KEEPALIVE) as channel:
        connectivity = Connectivity(channel)
        check(channel)

        assert connectivity.wait_until_dropped(), connectivity.states
    assert "too_many_pings" in capfd.readouterr().err  # the client's own gRPC log says why
