"""Reading the requests topic as a consumer group member, and keeping what cannot be forwarded."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.model.outcomes import ForwardOutcome

Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True)
class Origin:
    """Where a message was read."""

    topic: str
    partition: int
    offset: int

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


@dataclass(frozen=True)
class ConsumedMessage:
    """A message as it was read: its bytes untouched, its headers in order (a name may repeat)."""

    origin: Origin
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    def text_headers(self) -> dict[str, str]:
        """The headers as text, the last of a repeated name winning; for trace context and logs."""
        return {name: (value or b"").decode(errors="replace") for name, value in self.headers}


MessageHandler = Callable[[ConsumedMessage], ForwardOutcome]
"""Brings one consumed message to an outcome; raises `OutcomeNotRecorded` when it could not be recorded."""


@dataclass(frozen=True)
class DeadLetterMessage:
    key: bytes | None
    value: bytes | None
    headers: Headers


class PartitionListener(Protocol):
    """Told when the group gives partitions to this member or takes them away."""

    def assigned(self, partitions: Sequence[TopicPartition]) -> None: ...

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """The partitions are about to go to another member: still ours, so positions may be committed."""
        ...

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        """The partitions already belong to another member: nothing may be committed for them."""
        ...


class MessageSource(Protocol):
    """One member of a consumer group reading one topic; offsets advance only when committed.

    Not thread-safe: one thread calls every method, and the listener is called on that
    thread, from inside `poll` and `close`.
    """

    def subscribe(self, listener: PartitionListener) -> None:
        """Joins the group; raises `SourceUnavailable` when that cannot be done now."""
        ...

    def poll(self, max_messages: int, timeout_s: float) -> Sequence[ConsumedMessage]:
        """Up to `max_messages` messages, each partition's in offset order, waiting up to
        `timeout_s` for the first. With `max_messages` 0 it returns none, yet keeps this member
        in the group and delivers rebalances (a consumer too busy to take more)."""
        ...

    def commit(self, positions: Mapping[TopicPartition, int]) -> None:
        """Records, and waits for the broker to confirm, the position of each partition: the
        offset of the next message to read there. Raises `CommitFailed`."""
        ...

    def close(self) -> None:
        """Leaves the group (revoking its partitions through the listener) and lets go of the connection."""
        ...


class DeadLetterQueue(Protocol):
    """Keeps messages that could not be forwarded, with headers saying why; safe to call from many threads."""

    def publish(self, message: DeadLetterMessage) -> None:
        """Returns once the message is durably kept; raises `DeadLetterUnavailable` otherwise."""
        ...
