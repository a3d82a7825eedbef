from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapters.memory.broker import InMemoryBroker, Record
from adapters.memory.group import InMemoryConsumerGroup
from domain.model.errors import CommitFailed
from ports.messages import ConsumedMessage, MessageSource, Origin, PartitionListener, TopicPartition

WAIT_SLICE_S = 0.05


@dataclass(frozen=True)
class _Rebalance:
    kind: str
    partitions: tuple[TopicPartition, ...]
    by_group: bool = False


class InMemoryMessageSource(MessageSource):
    """Reads `topic` of an in-memory broker as a member of `group` (one of its own by default), each
    partition from its committed position; rebalances take effect inside `poll`, as in Kafka. Tests may
    request rebalances (`revoke`, `lose`, `assign`) and failing commits (`fail_commits`). Thread-safe."""

    def __init__(self, broker: InMemoryBroker, topic: str, group: InMemoryConsumerGroup | None = None) -> None:
        self._broker = broker
        self._topic = topic
        self.group = group if group is not None else InMemoryConsumerGroup()
        self._lock = threading.RLock()
        self._listener: PartitionListener | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._rebalances: deque[_Rebalance] = deque()
        self._commit_failures = 0
        self._polls = 0
        self._polled_empty = 0
        self._turn = 0
        self.closed = False

    @property
    def assignment(self) -> list[TopicPartition]:
        with self._lock:
            return sorted(self._positions)

    @property
    def polls(self) -> int:
        with self._lock:
            return self._polls

    @property
    def idle_polls(self) -> int:
        """How many polls asked for no messages (the consumer was full)."""
        with self._lock:
            return self._polled_empty

    def subscribe(self, listener: PartitionListener) -> None:
        self._broker.create_topic(self._topic)
        with self._lock:
            self._listener = listener
        self.group.join(self, self._every_partition())

    def poll(self, max_messages: int, timeout_s: float) -> Sequence[ConsumedMessage]:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._polls += 1
        while True:
            self._rebalance()
            if max_messages <= 0:
                with self._lock:
                    self._polled_empty += 1
                return []
            messages = self._read(max_messages)
            left = deadline - time.monotonic()
            if messages or left <= 0:
                return messages
            self._broker.wait_for_records(min(left, WAIT_SLICE_S))

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Records positions of any partition of an existing topic, owned or not, as a Kafka broker does."""
        with self._lock:
            if self._commit_failures:
                self._commit_failures -= 1
                raise CommitFailed("the in-memory group refused the commit, as told")
        unknown = sorted(p for p in positions if not self._broker.has_partition(p.topic, p.partition))
        if unknown:
            raise CommitFailed(f"unknown topic or partition: {unknown}")
        self.group.record(positions)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            owned = tuple(sorted(self._positions))
            self._rebalances.clear()
        if owned and self._listener is not None:
            self._listener.revoked(owned)
        with self._lock:
            self._positions.clear()
        self.group.leave(self)

    def grant(self, partitions: tuple[TopicPartition, ...]) -> None:
        with self._lock:
            if not self.closed:
                self._rebalances.append(_Rebalance("assign", partitions, by_group=True))

    def withdraw(self, partitions: tuple[TopicPartition, ...]) -> None:
        with self._lock:
            if not self.closed:
                self._rebalances.append(_Rebalance("revoke", partitions, by_group=True))

    def revoke(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._rebalances.append(_Rebalance("revoke", tuple(partitions)))

    def lose(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._rebalances.append(_Rebalance("lose", tuple(partitions)))

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._rebalances.append(_Rebalance("assign", tuple(partitions)))

    def fail_commits(self, times: int) -> None:
        with self._lock:
            self._commit_failures += times

    def _every_partition(self) -> tuple[TopicPartition, ...]:
        return tuple(TopicPartition(self._topic, partition) for partition in range(self._broker.partitions))

    def _rebalance(self) -> None:
        while True:
            with self._lock:
                if not self._rebalances or self._listener is None:
                    return
                event = self._rebalances.popleft()
                listener = self._listener
            if event.kind == "assign":
                with self._lock:
                    for partition in event.partitions:
                        self._positions[partition] = self.group.get(partition)
                listener.assigned(event.partitions)
            elif event.kind == "revoke":
                listener.revoked(event.partitions)
                self._drop(event.partitions)
                if event.by_group:
                    self.group.released(self, event.partitions)
            else:
                self._drop(event.partitions)
                listener.lost(event.partitions)

    def _drop(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            for partition in partitions:
                self._positions.pop(partition, None)

    def _read(self, limit: int) -> list[ConsumedMessage]:
        """Up to `limit` messages, starting from a different partition each time so none starves."""
        messages: list[ConsumedMessage] = []
        with self._lock:
            partitions = sorted(self._positions)
            self._turn += 1
            for n in range(len(partitions)):
                partition = partitions[(self._turn + n) % len(partitions)]
                position = self._positions[partition]
                records = self._broker.read(partition.topic, partition.partition, position, limit - len(messages))
                messages.extend(_consumed(record) for record in records)
                self._positions[partition] = position + len(records)
                if len(messages) >= limit:
                    break
        return messages


def _consumed(record: Record) -> ConsumedMessage:
    return ConsumedMessage(
        origin=Origin(record.topic, record.partition, record.offset),
        key=record.key.encode() if record.key is not None else None,
        value=record.value,
        headers=tuple((name, value.encode()) for name, value in record.headers.items()),
    )
