"""How long to wait before trying again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: the wait before retry `n` (1-based) grows as `base_s * 2**(n-1)`, up to `max_s`."""

    base_s: float
    max_s: float

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < self.base_s:
            raise ValueError(f"backoff needs 0 <= base ({self.base_s}) <= max ({self.max_s})")

    def ceiling(self, retry: int) -> float:
        if retry < 1:
            raise ValueError(f"retries count from 1, got {retry}")
        return min(self.max_s, self.base_s * 2.0 ** min(retry - 1, 62))

    def full_jitter(self, retry: int, random: Callable[[], float]) -> float:
        """A uniformly random wait up to the ceiling, so that many clients do not retry in step."""
        return random() * self.ceiling(retry)
