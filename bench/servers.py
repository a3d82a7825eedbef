"""Servers under measurement, each in a process of its own: a command that prints `listening on URL`,
its output going to a file (not a pipe the benchmark must drain, which would take CPU from the run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.load import ROOT

LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
"""Telemetry on, with one trace in ten sampled (parent-based): issue 9's 10% variant."""
TELEMETRY = {"off": {"OTEL_SDK_DISABLED": "true"}, "on": {}, "sampled": SAMPLED}
"""The environment of each telemetry variant the benchmarks compare, on top of an exporting one."""
START_TIMEOUT_S = 60.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Served:
    url: str
    pid: int

    def rss_mb(self) -> float:
        """Resident memory of the process and its children (if it forked any), in MB."""
        pids = [self.pid, *_children(self.pid)]
        return sum(_rss_kb(pid) for pid in pids) / 1024

    def cpu_s(self) -> float:
        """CPU time (user + system) the process and its children have used so far, in seconds."""
        return sum(_cpu_ticks(pid) for pid in [self.pid, *_children(self.pid)]) / TICKS_PER_S


@contextmanager
def serve(
    label: str, arguments: list[str], env: dict[str, str], ready: re.Pattern[str] = LISTENING, cwd: Path = ROOT
) -> Iterator[Served]:
    """Runs `python ARGUMENTS` in `cwd` with `env` added, waits for a line matching `ready` (its first group
    is the URL, if it has one), SIGTERMs it on the way out."""
    with tempfile.NamedTemporaryFile("w+", prefix=f"bench-{label.replace(' ', '-')}-", suffix=".log") as log:
        process = subprocess.Popen(
            [sys.executable, *arguments], cwd=cwd, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield Served(_wait_for_url(label, process, Path(log.name), ready), process.pid)
        finally:
            process.terminate()
            process.wait(30)


def _wait_for_url(label: str, process: subprocess.Popen[bytes], log: Path, ready: re.Pattern[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if match := ready.search(log.read_text(errors="replace")):
            return match.group(1) if ready.groups else ""
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{label} did not start listening:\n{log.read_text(errors='replace')[-3000:]}")


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime and stime: fields 14 and 15 of proc(5)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
