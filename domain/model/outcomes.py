"""How forwarding one request ended: forwarded, or kept as a dead letter saying why."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DeadLetterCause(enum.StrEnum):
    UNDECODABLE = "undecodable"
    REJECTED = "rejected"
    RETRIES_EXHAUSTED = "retries-exhausted"


@dataclass(frozen=True)
class Forwarded:
    """The third party accepted the request after `attempts` sends."""

    request_id: str
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    """The message goes to the dead letters; `request_id` is None when it could not be decoded."""

    request_id: str | None
    cause: DeadLetterCause
    reason: str
    attempts: int


ForwardOutcome = Forwarded | DeadLetter
