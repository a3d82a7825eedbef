"""Submit over gRPC beside POST /one over HTTP, each against its own `cruncan` process on the in-memory
adapters: HTTP driven by wrk, gRPC by a Python client in a process of its own (no compiled gRPC load tool
installs here). Each row reports the server's CPU per request, and the load generator's own CPU."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.load import BODY, ROOT

TICKS = os.sysconf("SC_CLK_TCK")
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class Row:
    label: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    client_cpu_s: float

    def line(self) -> str:
        per_request = 1e6 / max(self.requests, 1)
        return (
            f"{self.label:<26} {self.requests / self.seconds:8.0f} req/s   p50 {self.p50_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms   server CPU {self.server_cpu_s * per_request:5.0f} us/req   "
            f"client CPU {self.client_cpu_s * per_request:5.0f} us/req   errors {self.errors}"
        )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def serving(command: str, listening: str) -> Iterator[tuple[str, int]]:
    """`cruncan COMMAND` on the in-memory adapters; yields the address it printed and its PID."""
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", command, "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "OTEL_SDK_DISABLED": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if match := re.search(listening, line):
                threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
                yield match.group(1), process.pid
                return
        raise RuntimeError(f"cruncan {command} exited with {process.wait()} before listening")
    finally:
        process.terminate()
        process.wait(30)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def http_row(concurrency: int, seconds: float) -> Row:
    with serving("api", r"listening on (http://[\d.]+:\d+)") as (url, pid), tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA % BODY.decode())
        subprocess.run(["wrk", "-t1", "-c8", "-d2s", "-s", str(script), f"{url}/one"], capture_output=True, check=True)
        server_before, client_before = cpu_seconds(pid), children_cpu()
        threads = min(concurrency, 2)
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{seconds:.0f}s",
                "--latency",
                "-s",
                str(script),
                f"{url}/one",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        server_cpu, client_cpu = cpu_seconds(pid) - server_before, children_cpu() - client_before
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Row(
        "POST /one (HTTP, wrk)",
        requests,
        int(non_2xx.group(1)) if non_2xx else 0,
        seconds,
        _wrk_latency(out, "50%"),
        _wrk_latency(out, "99%"),
        server_cpu,
        client_cpu,
    )


def grpc_row(concurrency: int, seconds: float) -> Row:
    with serving("grpc", r"listening on grpc://([\d.]+:\d+)") as (target, pid):
        server_before = cpu_seconds(pid)
        load = ["--concurrency", str(concurrency), "--seconds", str(seconds)]
        out = subprocess.run(
            [sys.executable, "-m", "bench.grpc_client", "--target", target, *load],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        server_cpu = cpu_seconds(pid) - server_before
    figures = json.loads(out)
    latencies = figures["latencies_ms"]
    return Row(
        "Submit (gRPC, Python client)",
        figures["requests"],
        figures["errors"],
        figures["seconds"],
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        server_cpu,  # includes the client's 50 warm-up calls: negligible beside the run
        figures["cpu_s"],
    )


def _wrk_latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)$", out, re.M).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows = [http_row(args.concurrency, args.seconds), grpc_row(args.concurrency, args.seconds)]
    print(
        f"\n== ingest over HTTP and gRPC, in-memory adapters, {args.concurrency} connections or clients,"
        f" {args.seconds:.0f} s"
    )
    for row in rows:
        print(row.line())
    print("(the machine is shared: compare the rows of one run, not runs of different days)")


if __name__ == "__main__":
    main()
