from typing import Protocol


class IdGenerator(Protocol):
    """Unique, time-ordered request IDs; safe to call from many threads."""

    def next_id(self) -> str: ...
