from __future__ import annotations

import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from domain.model.message import PendingMessage
from ports.publisher import Publisher


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: Mapping[str, str] = field(default_factory=dict)


class InMemoryBroker:
    """A partitioned, append-only log per topic, as a Kafka broker keeps it, in memory. Keys are text
    (or none) and header values text, the forms cruncan writes; a key picks its partition by CRC32."""

    def __init__(self, partitions: int = 3) -> None:
        self._partitions = partitions
        self._topics: dict[str, list[list[Record]]] = {}
        self._lock = threading.Condition()

    @property
    def partitions(self) -> int:
        return self._partitions

    def create_topic(self, topic: str) -> None:
        """Creates `topic` unless it exists, as a consumer or producer does before first use."""
        with self._lock:
            self._log(topic)

    def has_partition(self, topic: str, partition: int) -> bool:
        with self._lock:
            return topic in self._topics and 0 <= partition < self._partitions

    def append(
        self, topic: str, key: str | None, value: bytes | None, headers: Mapping[str, str] | None = None
    ) -> Record:
        with self._lock:
            log = self._log(topic)
            partition = zlib.crc32((key or "").encode()) % self._partitions
            record = Record(topic, partition, len(log[partition]), key, value, dict(headers or {}))
            log[partition].append(record)
            self._lock.notify_all()
            return record

    def read(self, topic: str, partition: int, offset: int, limit: int = 100) -> list[Record]:
        with self._lock:
            log = self._topics.get(topic)
            return list(log[partition][offset : offset + limit]) if log else []

    def records(self, topic: str) -> list[Record]:
        with self._lock:
            return [record for log in self._topics.get(topic, []) for record in log]

    def wait_for_records(self, timeout: float) -> None:
        with self._lock:
            self._lock.wait(timeout)

    def _log(self, topic: str) -> list[list[Record]]:
        return self._topics.setdefault(topic, [[] for _ in range(self._partitions)])


class InMemoryPublisher(Publisher):
    def __init__(self, broker: InMemoryBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        for pending in messages:
            message = pending.message
            self._broker.append(self._topic, message.key, message.payload, message.headers)
        return {pending.outbox_id for pending in messages}
