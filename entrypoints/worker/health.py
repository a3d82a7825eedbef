"""What the worker's health endpoints report: whether its poll loop is alive, and whether it is a member of
its consumer group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ports.messages import ConsumedMessage, MessageSource, PartitionListener, TopicPartition


@dataclass(frozen=True)
class Report:
    healthy: bool
    detail: dict[str, object]


class WorkerHealth:
    """Liveness: the poll loop called its source within `liveness_threshold_s` (a heartbeat on every poll
    and subscription attempt). Readiness: the group gave this member its assignment (partitions, or none
    when there are more members than partitions: knowingly idle) and has not taken it back as lost.
    Thread-safe: the loop writes, the health server reads."""

    def __init__(self, liveness_threshold_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if liveness_threshold_s <= 0:
            raise ValueError(f"worker.health.liveness_threshold_s must be positive, got {liveness_threshold_s}")
        self._threshold_s = liveness_threshold_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._joined = False
        self._partitions: set[TopicPartition] = set()

    def beat(self) -> None:
        with self._lock:
            self._last_beat = self._clock()

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._joined = True
            self._partitions.update(partitions)

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._partitions.difference_update(partitions)

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        with self._lock:
            self._joined = False
            self._partitions.difference_update(partitions)

    def left(self) -> None:
        with self._lock:
            self._joined = False
            self._partitions.clear()

    def liveness(self) -> Report:
        with self._lock:
            silent_s = self._clock() - self._last_beat
        detail: dict[str, object] = {"last_poll_s_ago": round(silent_s, 3), "threshold_s": self._threshold_s}
        return Report(silent_s <= self._threshold_s, detail)

    def readiness(self) -> Report:
        with self._lock:
            joined, partitions = self._joined, sorted(self._partitions)
        names = [f"{p.topic}[{p.partition}]" for p in partitions]
        if not joined:
            return Report(False, {"reason": "not a member of the consumer group yet (or lost its partitions)"})
        return Report(True, {"partitions": names, "idle": not names})


class WatchedSource(MessageSource):
    """`source`, reporting to `health`: each `subscribe` and `poll` is a heartbeat, and the group's
    assignments are recorded on their way to the loop's listener."""

    def __init__(self, source: MessageSource, health: WorkerHealth) -> None:
        self._source = source
        self._health = health

    def subscribe(self, listener: PartitionListener) -> None:
        self._health.beat()
        self._source.subscribe(_Recording(listener, self._health))

    def poll(self, max_messages: int, timeout_s: float) -> Sequence[ConsumedMessage]:
        self._health.beat()
        return self._source.poll(max_messages, timeout_s)

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        self._source.commit(positions)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            self._health.left()


class _Recording(PartitionListener):
    def __init__(self, listener: PartitionListener, health: WorkerHealth) -> None:
        self._listener = listener
        self._health = health

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        self._health.assigned(partitions)
        self._listener.assigned(partitions)

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self._health.revoked(partitions)
        self._listener.revoked(partitions)

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._health.lost(partitions)
        self._listener.lost(partitions)
