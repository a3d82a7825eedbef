from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from domain.model.message import OutboxMessage, PendingMessage


class Outbox(Protocol):
    """Messages recorded with their request, published later by a relay.

    `claim_pending` locks the oldest unsent messages for the enclosing unit of work and
    skips messages another unit of work has claimed; the claim ends with the unit of work.
    It takes only the oldest unsent message of each key, so a key's messages are sent in order.
    """

    def add(self, message: OutboxMessage) -> None: ...

    def claim_pending(self, limit: int) -> list[PendingMessage]: ...

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None: ...

    def backlog(self) -> int:
        """How many messages are waiting to be sent."""
        ...

    def count_sent_before(self, cutoff: datetime) -> int: ...

    def delete_sent_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` messages sent before `cutoff`, skipping those another unit of work
        holds; returns how many. Unsent messages are never deleted."""
        ...


class OutboxSignal(Protocol):
    """Wakes a relay when messages are committed to the outbox."""

    def wait(self, timeout: float) -> bool:
        """Blocks until new messages may be waiting, or `timeout` seconds; True if woken."""
        ...

    def close(self) -> None: ...
