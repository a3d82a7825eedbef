from typing import Protocol


class Probe(Protocol):
    """Answers whether one dependency is reachable right now."""

    name: str

    def check(self) -> None:
        """Returns if healthy; otherwise raises the domain error of that dependency being down
        (`StoreUnavailable`, `BrokerUnavailable`) with a short reason."""
        ...
