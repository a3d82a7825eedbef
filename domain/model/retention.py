"""How long cruncan keeps what it no longer needs, and what one clean-up removed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Retention:
    """Keep sent outbox messages for `outbox` after sending, requests for `requests` after their
    creation; None keeps them forever. Expired idempotency keys are never kept."""

    outbox: timedelta | None
    requests: timedelta | None


@dataclass(frozen=True)
class Removed:
    """What a clean-up deleted (or, on a dry run, would delete)."""

    outbox_messages: int = 0
    requests: int = 0
    idempotency_keys: int = 0

    def __add__(self, other: Removed) -> Removed:
        return Removed(
            self.outbox_messages + other.outbox_messages,
            self.requests + other.requests,
            self.idempotency_keys + other.idempotency_keys,
        )
