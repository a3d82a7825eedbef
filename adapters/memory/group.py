"""A consumer group of the in-memory broker: committed positions and who owns which partition."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from ports.messages import TopicPartition


class GroupMember(Protocol):
    """Told by its group, from any thread, which partitions to take and which to give up."""

    def grant(self, partitions: tuple[TopicPartition, ...]) -> None: ...

    def withdraw(self, partitions: tuple[TopicPartition, ...]) -> None: ...


class InMemoryConsumerGroup:
    """Committed positions that outlive the members, and each member's partitions, moved as Kafka's
    cooperative sticky assignor moves them (see docs/architecture.md). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self._partitions: set[TopicPartition] = set()
        self._owned: dict[GroupMember, set[TopicPartition]] = {}
        self._revoking: dict[TopicPartition, GroupMember] = {}

    def get(self, partition: TopicPartition) -> int:
        with self._lock:
            return self._positions.get(partition, 0)

    def positions(self) -> dict[TopicPartition, int]:
        with self._lock:
            return dict(self._positions)

    def record(self, positions: Mapping[TopicPartition, int]) -> None:
        with self._lock:
            self._positions.update(positions)
            self.commits.append(dict(positions))

    def join(self, member: GroupMember, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            self._partitions.update(partitions)
            self._owned[member] = set()
            self._balance()

    def released(self, member: GroupMember, partitions: Iterable[TopicPartition]) -> None:
        """`member` revoked `partitions` it was asked to give up: they may go to another member."""
        with self._lock:
            for partition in partitions:
                if self._revoking.get(partition) is member:
                    del self._revoking[partition]
            self._balance()

    def leave(self, member: GroupMember) -> None:
        """`member` closed, having revoked what it owned: its partitions go to the others."""
        with self._lock:
            self._owned.pop(member, None)
            self._revoking = {p: owner for p, owner in self._revoking.items() if owner is not member}
            self._balance()

    def _balance(self) -> None:
        members = list(self._owned)
        if not members:
            return
        share, extra = divmod(len(self._partitions), len(members))
        targets = {member: share + (1 if n < extra else 0) for n, member in enumerate(members)}
        for member in members:
            surplus = sorted(self._owned[member])[: max(len(self._owned[member]) - targets[member], 0)]
            if surplus:
                self._owned[member] -= set(surplus)
                self._revoking.update(dict.fromkeys(surplus, member))
                member.withdraw(tuple(surplus))
        taken = set().union(*self._owned.values(), self._revoking)
        free = sorted(self._partitions - taken)
        for member in members:
            need = max(targets[member] - len(self._owned[member]), 0)
            given, free = free[:need], free[need:]
            if given:
                self._owned[member] |= set(given)
                member.grant(tuple(given))
