from __future__ import annotations

import math
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from ports.clock import Clock

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


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


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on (its affinity), fewer when a cgroup v2 CPU quota, as a
    container's CPU limit sets, allows less: a quota of 1.5 CPUs counts as 2."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count
