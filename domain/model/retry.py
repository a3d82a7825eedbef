"""How often, and after how long a wait, a failed call is tried again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` calls in all (0: until one succeeds), the wait before retry `n`
    (1-based) growing as `base_s * 2**(n-1)` up to `max_s`."""

    base_s: float
    max_s: float
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < self.base_s:
            raise ValueError(f"a retry policy needs 0 <= base_s ({self.base_s}) <= max_s ({self.max_s})")
        if self.attempts < 0:
            raise ValueError(f"a retry policy needs attempts >= 0 (0: no limit), got {self.attempts}")

    def exhausted(self, attempts: int) -> bool:
        """Whether no call may follow the `attempts` made so far."""
        return 0 < self.attempts <= attempts

    def ceiling(self, retry: int) -> float:
        if retry < 1:
            raise ValueError(f"retries count from 1, got {retry}")
        return min(self.max_s, self.base_s * 2.0 ** min(retry - 1, 62))

    def full_jitter(self, retry: int, random: Callable[[], float]) -> float:
        """A uniformly random wait up to the ceiling, so that many clients do not retry in step."""
        return random() * self.ceiling(retry)
