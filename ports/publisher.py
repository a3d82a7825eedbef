from collections.abc import Sequence
from typing import Protocol

from domain.model.message import PendingMessage


class Publisher(Protocol):
    """Publishes messages keyed by request ID, waiting for the broker to confirm them."""

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        """Returns the outbox IDs of the messages the broker acknowledged; the rest failed."""
        ...
