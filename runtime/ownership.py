"""Which partitions this consumer owns, and since which assignment: work for a partition stops
once the assignment it started under has ended."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence

from ports.messages import TopicPartition


class Ownership:
    """Numbers each assignment of a partition; thread-safe. Assignment 0 means not owned."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._assignments: dict[TopicPartition, int] = {}
        self._ids = itertools.count(1)
        self._abandoned = False

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        with self._changed:
            for partition in partitions:
                self._assignments[partition] = next(self._ids)

    def current(self, partition: TopicPartition) -> int:
        with self._changed:
            return self._assignments.get(partition, 0)

    def owns(self, partition: TopicPartition, assignment: int) -> bool:
        with self._changed:
            return self._owns(partition, assignment)

    def wait_until_lost(self, partition: TopicPartition, assignment: int, timeout_s: float) -> None:
        """Waits `timeout_s`, returning early once `assignment` of `partition` has ended."""
        with self._changed:
            self._changed.wait_for(lambda: not self._owns(partition, assignment), timeout_s)

    def disown(self, partitions: Sequence[TopicPartition]) -> None:
        with self._changed:
            for partition in partitions:
                self._assignments.pop(partition, None)
            self._changed.notify_all()

    def abandon(self) -> None:
        """Ends every assignment, present and future: the consumer is stopping."""
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()

    def _owns(self, partition: TopicPartition, assignment: int) -> bool:
        return not self._abandoned and self._assignments.get(partition, 0) == assignment
