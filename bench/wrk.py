"""The one way benchmarks drive HTTP load: `wrk`, a compiled load generator outside Python, so the
driver takes no GIL and little CPU from the servers it measures. Every run records the machine's
load average beside its figures, since on a shared machine a ratio means more than a figure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

POST_ONE = Path(__file__).with_name("post_one.lua")
RESULT = re.compile(
    r"RESULT requests=(\d+) seconds=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+) non2xx=(\d+) socket_errors=(\d+)"
)
INSTALL_HINT = "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`, then run again"


@dataclass(frozen=True)
class Run:
    """One wrk run: what it sent, how fast, and the 1-minute load average when it ended."""

    variant: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    load_average: float
    cpu_s: float = 0.0  # CPU the server used during the run, when the caller measured it

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / max(self.requests, 1)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def require_wrk() -> str:
    """The path of `wrk`, or SystemExit saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(INSTALL_HINT)
    return path


def wrk(
    variant: str, url: str, *, seconds: float, connections: int = 16, threads: int = 2, script: Path = POST_ONE
) -> Run:
    """Runs `wrk -tT -cC -dS -s SCRIPT URL`; the script must print the RESULT line `post_one.lua` prints."""
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = RESULT.search(output)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, elapsed, p50, p99, non2xx, socket_errors = match.groups()
    return Run(
        variant,
        int(requests),
        float(elapsed),
        float(p50),
        float(p99),
        int(non2xx) + int(socket_errors),
        os.getloadavg()[0],
    )
