from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time, always timezone-aware UTC; `sleep` lets tests move time instead of waiting."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...
