from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

from ports.clock import Clock


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


def outbound_ipv4(fallback: str = "127.0.0.1") -> str:
    """The address of the interface that routes outwards (no packet is sent), else `fallback`."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
    except OSError:
        return fallback
