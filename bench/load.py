"""A small closed-loop load driver for HTTP endpoints, and a way to run `cruncan` beside it."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"user_id": "bench-user", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'


@dataclass(frozen=True)
class Figures:
    label: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.label:<32} {self.rps:9.0f} req/s   p50 {self.percentile(50):6.2f} ms   "
            f"p90 {self.percentile(90):6.2f} ms   p99 {self.percentile(99):6.2f} ms   "
            f"mean {statistics.fmean(self.latencies_ms):6.2f} ms   errors {self.errors}"
        )


def drive(label: str, url: str, concurrency: int, seconds: float, body: bytes = BODY, expect: int = 201) -> Figures:
    """`concurrency` clients each POST `body` back to back for `seconds` (after a short warm-up)."""
    pool = urllib3.PoolManager(maxsize=concurrency, retries=False)
    headers = {"Content-Type": "application/json"}
    for _ in range(50):
        pool.request("POST", url, body=body, headers=headers)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = pool.request("POST", url, body=body, headers=headers)
            latencies[index].append((time.perf_counter() - started) * 1000)
            if response.status != expect:
                errors[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [value for bucket in latencies for value in bucket]
    return Figures(label, len(every), sum(errors), elapsed, every)


@contextmanager
def cruncan(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Runs `cruncan ARGS --port 0` and yields its base URL; SIGTERM on the way out."""
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", *args, "--port", "0"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield _wait_for_url(process)
    finally:
        process.terminate()
        process.wait(30)


def _wait_for_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"listening on (http://[\d.]+:\d+)", line):
            threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
            return match.group(1)
    raise RuntimeError(f"cruncan exited with {process.wait()} before listening")


def report(title: str, rows: list[Figures], extra: Callable[[], list[str]] = list) -> None:
    print(f"\n== {title}")
    for row in rows:
        print(row.line())
    for line in extra():
        print(line)
