"""Which offsets a consumer may commit while it processes messages out of order."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ports.messages import Origin, TopicPartition


@dataclass
class _Partition:
    committed: int
    next_offset: int
    unfinished: set[int] = field(default_factory=set)

    @property
    def position(self) -> int:
        return min(self.unfinished) if self.unfinished else self.next_offset


class OffsetTracker:
    """Tells how far each partition may be committed while messages finish in any order.

    Kafka commits a position per partition: the offset of the next message to read, saying
    that everything before it is done. So a partition's position is its lowest unfinished
    offset, or one past the last started offset when none is unfinished: it only moves over
    finished messages, never past one still in flight. Offsets of a partition must be started
    in increasing order (gaps are fine). Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartition, _Partition] = {}

    def start(self, origin: Origin) -> None:
        key = origin.topic_partition
        with self._lock:
            state = self._partitions.get(key)
            if state is None:
                state = self._partitions[key] = _Partition(committed=origin.offset, next_offset=origin.offset)
            if origin.offset < state.next_offset:
                raise ValueError(
                    f"offset {origin.offset} of {key.topic}[{key.partition}] started after offset "
                    f"{state.next_offset - 1}: offsets must be started in increasing order"
                )
            state.unfinished.add(origin.offset)
            state.next_offset = origin.offset + 1

    def finish(self, origin: Origin) -> bool:
        """Marks a started message done; False if it is not tracked (its partition was revoked)."""
        with self._lock:
            state = self._partitions.get(origin.topic_partition)
            if state is None or origin.offset not in state.unfinished:
                return False
            state.unfinished.remove(origin.offset)
            return True

    def committable(self) -> dict[TopicPartition, int]:
        """The position of each partition that moved since it was last `committed`."""
        with self._lock:
            return {key: state.position for key, state in self._partitions.items() if state.position > state.committed}

    def committed(self, positions: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            for key, position in positions.items():
                state = self._partitions.get(key)
                if state is not None:
                    state.committed = max(state.committed, position)

    def revoke(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """Forgets the partitions, returning the positions to commit for them before letting them go."""
        with self._lock:
            dropped = {key: self._partitions.pop(key) for key in partitions if key in self._partitions}
            return {key: state.position for key, state in dropped.items() if state.position > state.committed}

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(state.unfinished) for state in self._partitions.values())
