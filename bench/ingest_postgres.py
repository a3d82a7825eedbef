"""POST /one on real Postgres + broker, against a bare Flask + psycopg2 handler on the same database.

Telemetry is off here (`OTEL_SDK_DISABLED=true`) as the baseline has none: this measures the storage
path. `bench.api_figures` measures what telemetry adds, with wrk."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.load import ROOT, cruncan, drive, report
from bench.stack import real_stack


@contextmanager
def baseline(dsn: str, threads: int) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline_app", "--dsn", dsn, "--threads", str(threads)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"(http://[\d.]+:\d+)", process.stdout.readline())
        if match is None:
            raise RuntimeError("the baseline app did not start")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    threads = 8
    with real_stack() as env:
        with cruncan("api", env={**os.environ, **env, "OTEL_SDK_DISABLED": "true"}) as url:
            ours = drive("cruncan POST /one", f"{url}/one", args.concurrency, args.seconds)
        with baseline(env["CRUNCAN_STORAGE__POSTGRES__DSN"], threads) as url:
            bare = drive("bare Flask+psycopg2 insert", f"{url}/one", args.concurrency, args.seconds)
    report(
        f"ingest on Postgres + Kafka, {args.concurrency} clients, {args.seconds:.0f} s each",
        [ours, bare],
        lambda: [f"ratio cruncan / bare: {ours.rps / bare.rps:.2f} (throughput)"],
    )


if __name__ == "__main__":
    main()
