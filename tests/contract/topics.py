"""What a topic holds, read the same way from the in-memory broker and from a real one, for the
contracts of the adapters that write to topics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.memory.broker import InMemoryBroker
from harness.kafka import read_messages


@dataclass(frozen=True)
class TopicMessage:
    key: str | None
    value: bytes | None
    headers: dict[str, str]


Reader = Callable[[int], list[TopicMessage]]


def memory_reader(broker: InMemoryBroker, topic: str) -> Reader:
    """Every message of `topic`; fails unless there are at least `count`."""

    def read(count: int) -> list[TopicMessage]:
        records = broker.records(topic)
        assert len(records) >= count, f"{len(records)} of {count} messages on {topic}"
        return [TopicMessage(record.key, record.value, dict(record.headers)) for record in records]

    return read


def kafka_reader(bootstrap_servers: str, topic: str) -> Reader:
    """The first `count` messages of `topic`, waiting for them to arrive."""

    def read(count: int) -> list[TopicMessage]:
        return [TopicMessage(m.key, m.value, m.headers) for m in read_messages(bootstrap_servers, topic, count)]

    return read
