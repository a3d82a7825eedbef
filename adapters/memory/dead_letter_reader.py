from __future__ import annotations

from collections.abc import Iterator

from adapters.memory.broker import InMemoryBroker
from ports.dead_letter_reader import DeadLetterReader
from ports.messages import ConsumedMessage, Origin


class InMemoryDeadLetterReader(DeadLetterReader):
    """Reads a topic of an in-memory broker from positions kept in `positions` (the group's), up to the
    end each partition had when reading started."""

    def __init__(self, broker: InMemoryBroker, topic: str, positions: dict[int, int]) -> None:
        self._broker = broker
        self._topic = topic
        self._positions = positions

    def read(self) -> Iterator[ConsumedMessage]:
        for partition in range(self._broker.partitions):
            start = self._positions.get(partition, 0)
            end = start + len(self._broker.read(self._topic, partition, start, limit=1 << 30))
            for record in self._broker.read(self._topic, partition, start, limit=end - start):
                headers = tuple((name, value.encode()) for name, value in record.headers.items())
                origin = Origin(record.topic, record.partition, record.offset)
                key = None if record.key is None else record.key.encode()
                yield ConsumedMessage(origin, key, record.value, headers)

    def commit(self, origin: Origin) -> None:
        self._positions[origin.partition] = max(self._positions.get(origin.partition, 0), origin.offset + 1)

    def close(self) -> None:
        """Nothing to let go of."""
