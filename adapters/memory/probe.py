from __future__ import annotations

from ports.health import Probe


class InProcessProbe(Probe):
    """In-memory dependencies live in this process: reachable whenever the process is."""

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self) -> None:
        return None
