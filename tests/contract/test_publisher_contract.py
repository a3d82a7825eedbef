"""The `Publisher` contract, run against the in-memory publisher and against Kafka on a real broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from adapters.kafka.producer import KafkaPublisher
from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from domain.model.message import OutboxMessage, PendingMessage
from harness.kafka import list_topics, message_count, read_messages
from harness.tansu import TansuBroker
from ports.publisher import Publisher
from tests.contract.topics import Reader, TopicMessage, kafka_reader, memory_reader

PARTITIONS = 3
DELIVERY_TIMEOUT_MS = 3000
REQUEST_TIMEOUT_MS = 1000
# Checking the topic (two requests) plus waiting for every delivery report, plus a grace second.
PUBLISH_DEADLINE_S = 2 * REQUEST_TIMEOUT_MS / 1000 + DELIVERY_TIMEOUT_MS / 1000 + 1.0


@dataclass
class Harness:
    publisher: Publisher
    read: Reader


def kafka_publisher(broker: TansuBroker, topic: str) -> KafkaPublisher:
    return KafkaPublisher(
        broker.bootstrap_servers,
        topic,
        partitions=PARTITIONS,
        replication_factor=1,
        linger_ms=5,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


def memory_harness(topic: str) -> Iterator[Harness]:
    broker = InMemoryBroker(partitions=PARTITIONS)
    yield Harness(InMemoryPublisher(broker, topic), memory_reader(broker, topic))


def kafka_harness(broker: TansuBroker, topic: str) -> Iterator[Harness]:
    publisher = kafka_publisher(broker, topic)
    yield Harness(publisher, kafka_reader(broker.bootstrap_servers, topic))
    publisher.close(timeout_s=5.0)


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def harness(request: pytest.FixtureRequest, fresh_topic: str) -> Iterator[Harness]:
    if request.param == "memory":
        yield from memory_harness(fresh_topic)
    else:
        yield from kafka_harness(request.getfixturevalue("kafka_broker"), fresh_topic)


def pending(outbox_id: int, key: str, payload: bytes, headers: dict[str, str] | None = None) -> PendingMessage:
    return PendingMessage(outbox_id, OutboxMessage(key, payload, datetime(2026, 1, 1, tzinfo=UTC), headers or {}))


def test_every_message_arrives_with_its_key_value_and_headers(harness):
    batch = [
        pending(1, "00000000000000000001", b'{"request_id":"00000000000000000001"}', {"traceparent": "00-ab-cd-01"}),
        pending(2, "00000000000000000002", bytes(range(256)), {"a": "1", "b": "é✓"}),
        pending(3, "00000000000000000003", b"", {}),
    ]

    delivered = harness.publisher.publish(batch)

    assert delivered == {1, 2, 3}
    published = harness.read(3)
    assert sorted(published, key=lambda p: p.key or "") == [
        TopicMessage(p.message.key, p.message.payload, dict(p.message.headers)) for p in batch
    ]


def test_messages_with_one_key_arrive_in_publication_order(harness):
    batch = [pending(i, "00000000000000000042", f"version {i}".encode()) for i in range(1, 11)]

    assert harness.publisher.publish(batch) == set(range(1, 11))

    assert [p.value for p in harness.read(10)] == [f"version {i}".encode() for i in range(1, 11)]


def test_the_same_message_published_twice_arrives_twice(harness):
    message = pending(7, "00000000000000000007", b"again")

    assert harness.publisher.publish([message]) == {7}
    assert harness.publisher.publish([message]) == {7}

    assert [p.value for p in harness.read(2)] == [b"again", b"again"]


def test_an_empty_batch_publishes_nothing(harness):
    assert harness.publisher.publish([]) == set()


@pytest.mark.kafka
def test_the_topic_is_created_with_the_configured_partitions_on_first_publish(kafka_broker, fresh_topic):
    publisher = kafka_publisher(kafka_broker, fresh_topic)
    try:
        assert publisher.publish([pending(1, "00000000000000000001", b"first")]) == {1}
    finally:
        publisher.close(timeout_s=5.0)

    assert list_topics(kafka_broker.bootstrap_servers)[fresh_topic] == PARTITIONS


@pytest.mark.kafka
def test_with_the_broker_down_nothing_counts_as_delivered_and_all_is_published_once_it_returns(
    kafka_broker, fresh_topic
):
    publisher = kafka_publisher(kafka_broker, fresh_topic)
    try:
        assert publisher.publish([pending(1, "00000000000000000001", b"before")]) == {1}
        batch = [pending(i, f"0000000000000000000{i}", f"during {i}".encode()) for i in range(2, 6)]

        with kafka_broker.outage():
            assert publish_within_deadline(publisher, batch) == set()

        assert publisher.publish(batch) == {2, 3, 4, 5}
        assert sorted(m.value or b"" for m in read_messages(kafka_broker.bootstrap_servers, fresh_topic, 4)) == [
            f"during {i}".encode() for i in range(2, 6)
        ]
    finally:
        publisher.close(timeout_s=5.0)


@pytest.mark.kafka
def test_a_broker_down_at_first_use_delays_publication_until_it_returns(kafka_broker, fresh_topic):
    publisher = kafka_publisher(kafka_broker, fresh_topic)
    batch = [pending(1, "00000000000000000001", b"waited")]
    try:
        with kafka_broker.outage():
            assert publish_within_deadline(publisher, batch) == set()
        assert message_count(kafka_broker.bootstrap_servers, fresh_topic) == 0

        assert publisher.publish(batch) == {1}
        assert [m.value for m in read_messages(kafka_broker.bootstrap_servers, fresh_topic, 1)] == [b"waited"]
    finally:
        publisher.close(timeout_s=5.0)


def publish_within_deadline(publisher: Publisher, batch: list[PendingMessage]) -> set[int] | None:
    """Publishes from another thread; fails the test if `publish` overruns its documented deadline."""
    outcome: list[set[int]] = []
    worker = threading.Thread(target=lambda: outcome.append(publisher.publish(batch)), daemon=True)
    worker.start()
    worker.join(timeout=PUBLISH_DEADLINE_S + 5.0)
    if worker.is_alive():
        pytest.fail(f"publish() was still running {PUBLISH_DEADLINE_S + 5.0} s in, past its deadline")
    assert outcome, "publish() raised instead of returning the delivered IDs"
    return outcome[0]
