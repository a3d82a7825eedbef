"""Dead letters: the headers that say why a message was dead-lettered, and what re-driving them did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DLQ_PREFIX: Final = "cruncan.dlq."
"""Every header the worker adds to a dead letter starts with this; a re-drive strips them."""


@dataclass(frozen=True)
class LettersRedriven:
    """A run over the dead letters: requests re-driven through the outbox, poison messages published
    again as they were, letters re-driven by an earlier run, and letters whose request is no longer failed."""

    requests: int = 0
    poison: int = 0
    seen_before: int = 0
    not_failed: int = 0
    busy: bool = False

    @property
    def letters(self) -> int:
        return self.requests + self.poison + self.seen_before + self.not_failed
