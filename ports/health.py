from typing import Protocol


class Probe(Protocol):
    """Answers whether one dependency is reachable right now."""

    name: str

    def check(self) -> None:
        """Returns if healthy; raises with a short reason otherwise."""
        ...
