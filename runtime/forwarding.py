"""Turns a consumed message into the forwarding use case's input, dead-lettering what cannot be decoded."""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.model.message import RequestMessage, UndecodableMessage
from domain.model.outcomes import DeadLetter, DeadLetterCause, ForwardOutcome
from ports.messages import ConsumedMessage, MessageHandler
from runtime.naming import origin_name

log = logging.getLogger(__name__)


def decoding(forward: Callable[[RequestMessage], ForwardOutcome]) -> MessageHandler:
    """Hands each consumed message, decoded, to `forward`; a message that cannot be decoded is not
    forwarded and becomes an `undecodable` dead letter at once (no attempt made)."""

    def handle(message: ConsumedMessage) -> ForwardOutcome:
        try:
            request = RequestMessage.decode(message.value)
        except UndecodableMessage as exc:
            log.warning("undecodable message at %s: %s", origin_name(message.origin), exc)
            return DeadLetter(None, DeadLetterCause.UNDECODABLE, f"undecodable message: {exc}", attempts=0)
        return forward(request)

    return handle
