from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from ports.messages import ConsumedMessage, Origin


class DeadLetterReader(Protocol):
    """Reads the dead-letter topic from its group's committed positions up to the end it had when opened."""

    def read(self) -> Iterator[ConsumedMessage]:
        """Each partition's letters in offset order, stopping at the end the topic had on the first call."""
        ...

    def commit(self, origin: Origin) -> None:
        """Records every letter of `origin`'s partition up to `origin` as done; raises `CommitFailed`."""
        ...

    def close(self) -> None: ...


class RedrivenLetters(Protocol):
    """Dead letters re-driven, by position; a position is claimed by one unit of work and kept with its commit."""

    def claim(self, origin: Origin, request_id: str | None, at: datetime) -> bool:
        """True if no unit of work re-drove `origin` yet; a concurrent claim of it waits until this unit ends."""
        ...
