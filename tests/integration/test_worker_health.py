"""The worker's health on a real broker: members of a group become ready with partitions or knowingly idle,
a loop that stops polling fails liveness over HTTP, and the lag gauge counts what the group has not committed."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

import pytest
from confluent_kafka import Producer

from adapters.kafka.consumer import KafkaMessageSource
from adapters.telemetry.metrics import Metrics
from entrypoints.worker.health import WatchedSource, WorkerHealth
from entrypoints.worker.health_server import HealthServer, health_app
from harness.kafka import create_topic
from harness.polling import eventually
from ports.messages import TopicPartition
from tests.unit.recorded_telemetry import in_memory_telemetry

pytestmark = pytest.mark.kafka


class Recorder:
    """The loop's side of the listener: what the source told it."""

    def __init__(self) -> None:
        self.assignments: list[list[TopicPartition]] = []

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        self.assignments.append(list(partitions))

    def revoked(self, partitions: Sequence[TopicPartition]) -> None: ...

    def lost(self, partitions: Sequence[TopicPartition]) -> None: ...


def source_for(kafka_broker, topic: str, group: str, partitions: int) -> KafkaMessageSource:
    return KafkaMessageSource(
        kafka_broker.bootstrap_servers,
        topic,
        group,
        session_timeout_ms=3000,
        partitions=partitions,
        replication_factor=1,
        lag_refresh_s=0.2,
    )


class Member:
    """A group member polling on its own thread, as the consume loop does, through a `WatchedSource`."""

    def __init__(self, source: KafkaMessageSource, threshold_s: float = 30.0) -> None:
        self.kafka = source
        self.health = WorkerHealth(threshold_s)
        self.listener = Recorder()
        self.watched = WatchedSource(source, self.health)
        self.polling = threading.Event()
        self.polling.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Member:
        self.watched.subscribe(self.listener)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.polling.is_set():
                self.watched.poll(0, 0.1)
            else:
                self._stop.wait(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.watched.close()


@pytest.fixture
def members() -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for member in started:
        member.close()


def test_more_members_than_partitions_leaves_one_ready_and_knowingly_idle(kafka_broker, fresh_topic, members):
    for _ in range(2):
        members.append(Member(source_for(kafka_broker, fresh_topic, f"{fresh_topic}-group", partitions=1)).start())

    eventually(lambda: all(m.health.readiness().healthy for m in members), "both members joined the group", 45)
    eventually(
        lambda: sorted(m.health.readiness().detail["idle"] for m in members) == [False, True],
        "one member owns the partition and the other is idle",
        45,
    )
    idle = next(m for m in members if m.health.readiness().detail["idle"])
    assert [] in idle.listener.assignments, "the loop was not told of the empty assignment"


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_loop_that_stops_polling_fails_liveness_over_http_and_recovers(kafka_broker, fresh_topic, members):
    member = Member(source_for(kafka_broker, fresh_topic, f"{fresh_topic}-group", partitions=2), threshold_s=0.5)
    members.append(member.start())
    server = HealthServer(health_app(member.health), "127.0.0.1", 0)
    server.start()
    try:
        eventually(lambda: get(f"{server.url}/readyz")[0] == 200, "the member is ready", 45)
        assert get(f"{server.url}/healthz")[0] == 200

        member.polling.clear()
        _, body = eventually(
            lambda: (answer := get(f"{server.url}/healthz"))[0] == 503 and answer, "liveness fails", 10
        )
        assert body["status"] == "failing"
        assert body["last_poll_s_ago"] > 0.5

        member.polling.set()
        eventually(lambda: get(f"{server.url}/healthz")[0] == 200, "liveness recovers", 10)
    finally:
        server.stop(2.0)


def produce(bootstrap_servers: str, topic: str, partition: int, count: int) -> None:
    """One record per batch: Tansu 0.6 moves a partition's high watermark by one per batch, not per record."""
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for n in range(count):
        producer.produce(topic, value=f"message {n}".encode(), partition=partition)
        assert producer.flush(10) == 0


def test_the_lag_gauge_counts_per_partition_what_the_group_has_not_committed(kafka_broker, fresh_topic, members):
    create_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=2)
    produce(kafka_broker.bootstrap_servers, fresh_topic, 0, 5)
    produce(kafka_broker.bootstrap_servers, fresh_topic, 1, 3)
    member = Member(source_for(kafka_broker, fresh_topic, f"{fresh_topic}-group", partitions=2))
    members.append(member.start())
    p0, p1 = TopicPartition(fresh_topic, 0), TopicPartition(fresh_topic, 1)
    # Read on this thread while the member polls on its own, as the metrics thread reads it.
    eventually(lambda: member.kafka.lag() == {p0: 5, p1: 3}, "the lag before any commit", 45)

    member.polling.clear()  # the commit, like the consume loop's, is made between polls
    member.kafka.commit({p0: 4})
    member.polling.set()
    eventually(lambda: member.kafka.lag() == {p0: 1, p1: 3}, "the lag after committing 4 of partition 0", 15)

    recorded = in_memory_telemetry("cruncan-worker")
    try:
        Metrics.of(recorded.telemetry).observe_consumer_lag(member.kafka.lag)
        points = {
            (point.attributes["messaging.destination.partition.id"], point.value)
            for point in recorded.points("cruncan.worker.consumer.lag")
        }
    finally:
        recorded.telemetry.shutdown()
    assert points == {("0", 1), ("1", 3)}


def test_a_source_not_subscribed_reports_no_lag(kafka_broker, fresh_topic):
    assert source_for(kafka_broker, fresh_topic, "nobody", partitions=1).lag() == {}
