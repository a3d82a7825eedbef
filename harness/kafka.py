"""Topics on a Kafka-protocol broker, as a test sees them: create, list, count and read messages.

The readers assign every partition from the beginning in a consumer group of their own, so they never
disturb the consumers under test. Shortfalls raise AssertionError with what was found.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not re-exported in the stub

END_MARKER = b"end-of-test"


@dataclass(frozen=True)
class ReadMessage:
    key: str | None
    value: bytes | None
    headers: dict[str, str]
    partition: int
    offset: int


def fresh_topic_name() -> str:
    """A topic name nothing else uses (the topic itself does not exist yet)."""
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
    """Reads the first `count` messages of `topic` from every partition; an AssertionError if fewer arrive in time."""
    deadline = time.monotonic() + timeout_s
    partitions = _wait_for_partitions(bootstrap_servers, topic, deadline)
    received: list[ReadMessage] = []
    with _reader(bootstrap_servers) as consumer:
        consumer.assign(_from_the_beginning(topic, partitions))
        while len(received) < count and time.monotonic() < deadline:
            message = consumer.poll(timeout=min(0.5, max(deadline - time.monotonic(), 0.0)))
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                continue
            received.append(_read(message))
    if len(received) < count:
        raise AssertionError(f"read {len(received)} of {count} messages from topic {topic!r} within {timeout_s} s")
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
        raise AssertionError(f"read {topic} to the end of {len(ended)} of its {partitions} partitions only")
    return sorted(keys, key=str)


def _from_the_beginning(topic: str, partitions: int) -> list[TopicPartition]:
    return [TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(partitions)]


def _wait_for_partitions(bootstrap_servers: str, topic: str, deadline: float) -> int:
    while True:
        partitions = list_topics(bootstrap_servers, timeout_s=max(deadline - time.monotonic(), 0.5)).get(topic, 0)
        if partitions:
            return partitions
        if time.monotonic() >= deadline:
            raise AssertionError(f"topic {topic!r} does not exist on {bootstrap_servers}")
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
    key, value, headers = message.key(), message.value(), message.headers() or ()
    pairs = headers.items() if isinstance(headers, dict) else headers
    return ReadMessage(
        key=_text(key) if key is not None else None,
        value=value.encode() if isinstance(value, str) else value,
        headers={name: _text(header or b"") for name, header in pairs},
        partition=message.partition() or 0,
        offset=message.offset() or 0,
    )


def _text(raw: str | bytes) -> str:
    return raw if isinstance(raw, str) else raw.decode()
