"""The dead letter of a consumed message: its bytes, with `cruncan.dlq.*` headers saying why."""

from __future__ import annotations

from typing import Final

from domain.model.dead_letters import DLQ_PREFIX
from domain.model.outcomes import DeadLetter
from ports.messages import ConsumedMessage, DeadLetterMessage

DLQ_REASON: Final = DLQ_PREFIX + "reason"
DLQ_CAUSE: Final = DLQ_PREFIX + "cause"
DLQ_TOPIC: Final = DLQ_PREFIX + "topic"
DLQ_PARTITION: Final = DLQ_PREFIX + "partition"
DLQ_OFFSET: Final = DLQ_PREFIX + "offset"
DLQ_ATTEMPTS: Final = DLQ_PREFIX + "attempts"


def dead_letter_message(message: ConsumedMessage, letter: DeadLetter) -> DeadLetterMessage:
    """The consumed key, value and headers, with `cruncan.dlq.*` headers saying why, where from and
    after how many attempts (replacing those of an earlier dead-lettering)."""
    kept = tuple((name, value) for name, value in message.headers if not name.startswith(DLQ_PREFIX))
    origin = message.origin
    why = {
        DLQ_REASON: letter.reason,
        DLQ_CAUSE: letter.cause.value,
        DLQ_TOPIC: origin.topic,
        DLQ_PARTITION: str(origin.partition),
        DLQ_OFFSET: str(origin.offset),
        DLQ_ATTEMPTS: str(letter.attempts),
    }
    return DeadLetterMessage(message.key, message.value, kept + tuple((n, v.encode()) for n, v in why.items()))
