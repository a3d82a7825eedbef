from __future__ import annotations

import threading

from adapters.memory.broker import InMemoryBroker
from domain.model.errors import DeadLetterUnavailable
from ports.messages import DeadLetterMessage, DeadLetterQueue


class InMemoryDeadLetters(DeadLetterQueue):
    """Appends dead letters to `topic` of an in-memory broker (keys and header values as text).
    Can be told to refuse messages, as a broker that does not acknowledge them."""

    def __init__(self, broker: InMemoryBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic
        self._lock = threading.Lock()
        self._refusals = 0
        self._refused = 0

    def publish(self, message: DeadLetterMessage) -> None:
        with self._lock:
            if self._refusals:
                self._refusals -= 1
                self._refused += 1
                raise DeadLetterUnavailable(f"the in-memory broker refused a dead letter for {self._topic}, as told")
        headers = {name: (value or b"").decode(errors="replace") for name, value in message.headers}
        key = message.key.decode(errors="replace") if message.key is not None else None
        self._broker.append(self._topic, key, message.value, headers)

    def refuse_next(self, times: int = 1) -> None:
        with self._lock:
            self._refusals += times

    def accept(self) -> None:
        """Stops refusing."""
        with self._lock:
            self._refusals = 0

    @property
    def refused(self) -> int:
        with self._lock:
            return self._refused
