"""POST /one with wrk against `cruncan api` on Postgres, with its unit of work (`atomic`: each
statement sent when made inside peewee's `atomic()`, so BEGIN, INSERT, INSERT, COMMIT) and with
the batching one (`batched`: the two inserts in one message, one round trip), side by side.

Each variant has a database of its own and runs for the whole benchmark; the variants take turns
(in alternating order, after an uncounted warm-up of each) for several rounds and the median
round counts. Telemetry is off. With
`--messaging memory` the relay publishes in process, which isolates the database; `kafka` adds
a Tansu broker.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from adapters.postgres.schema import migrate
from bench.load import ROOT
from bench.wrk import Run, wrk
from harness.postgres import temporary_database
from harness.tansu import start_tansu

VARIANTS = ("batched", "atomic")


@contextmanager
def api(variant: str, env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.api_unit_of_work", "--unit-of-work", variant, "--port", "0"],
        cwd=ROOT,
        env={**os.environ, **env, "OTEL_SDK_DISABLED": "true"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (http://[\d.]+:\d+)", process.stdout.readline())
        if match is None:
            raise RuntimeError(f"the {variant} API did not start")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(30)


def _wrk(variant: str, url: str, args: argparse.Namespace) -> Run:
    return wrk(variant, url, seconds=args.seconds, connections=args.connections, threads=args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messaging", choices=["memory", "kafka"], default="memory")
    args = parser.parse_args()

    with ExitStack() as stack:
        env = {"CRUNCAN_MESSAGING__BACKEND": args.messaging}
        if args.messaging == "kafka":
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            broker = start_tansu(scratch / "broker.log")
            stack.callback(broker.stop)
            env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        urls = {}
        for variant in VARIANTS:
            dsn = stack.enter_context(temporary_database(f"wrk_{variant}"))
            migrate(dsn)
            urls[variant] = stack.enter_context(api(variant, {**env, "CRUNCAN_STORAGE__POSTGRES__DSN": dsn}))
        for variant in VARIANTS:  # warm-up, not counted: opens the pools' connections
            wrk(variant, f"{urls[variant]}/one", seconds=3, connections=args.connections, threads=args.threads)
        runs: list[Run] = []
        for round_number in range(args.rounds):
            order = VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                runs.append(_wrk(variant, f"{urls[variant]}/one", args))
                print(f"round {round_number + 1} {variant:<8} {runs[-1].rps:8.0f} req/s", flush=True)
                time.sleep(2)
    report(args, runs)


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    print(
        f"\nPOST /one, Postgres + {args.messaging} messaging, wrk -t{args.threads} -c{args.connections} "
        f"-d{args.seconds}s, median of {args.rounds} rounds"
    )
    medians = {}
    for variant in VARIANTS:
        mine = [run for run in runs if run.variant == variant]
        medians[variant] = statistics.median(run.rps for run in mine)
        print(
            f"  {variant:<8} {medians[variant]:8.0f} req/s   p50 {statistics.median(r.p50_ms for r in mine):6.2f} ms"
            f"   p99 {statistics.median(r.p99_ms for r in mine):6.2f} ms   errors {sum(r.errors for r in mine)}"
        )
    print(f"  ratio batched / atomic: {medians['batched'] / medians['atomic']:.2f}")


if __name__ == "__main__":
    main()
