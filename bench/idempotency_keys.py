"""What an Idempotency-Key costs: POST /one with wrk against `cruncan api` on Postgres, without a key,
with a new key on every request (a claim, a look-up and one more row in the request's transaction),
and with one key on every request (all but the first are retries, answered from the stored key).

The variants take turns on one server and one database, for several rounds after an uncounted warm-up;
the median round counts. Telemetry is off and the relay publishes in process, isolating the database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.postgres.schema import migrate
from bench.load import cruncan
from bench.wrk import Run, wrk
from harness.postgres import temporary_database

SCRIPTS = {
    "no key": Path(__file__).with_name("post_one.lua"),
    "new key each": Path(__file__).with_name("post_one_keyed.lua"),
    "same key (retries)": Path(__file__).with_name("post_one_replayed.lua"),
}


@contextmanager
def api_on_postgres() -> Iterator[str]:
    with temporary_database("wrk_idempotency") as dsn:
        migrate(dsn)
        env = {
            **os.environ,
            "CRUNCAN_STORAGE__BACKEND": "postgres",
            "CRUNCAN_STORAGE__POSTGRES__DSN": dsn,
            "CRUNCAN_MESSAGING__BACKEND": "memory",
            "OTEL_SDK_DISABLED": "true",
        }
        with cruncan("api", env=env) as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: list[Run] = []
    with api_on_postgres() as url:
        for variant, script in SCRIPTS.items():
            wrk(variant, f"{url}/one", seconds=3, connections=args.connections, threads=args.threads, script=script)
        for round_number in range(args.rounds):
            order = list(SCRIPTS) if round_number % 2 == 0 else list(SCRIPTS)[::-1]
            for variant in order:
                runs.append(
                    wrk(
                        variant,
                        f"{url}/one",
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=args.threads,
                        script=SCRIPTS[variant],
                    )
                )
                print(f"round {round_number + 1} {variant:<20} {runs[-1].rps:8.0f} req/s", flush=True)
                time.sleep(2)
    print(
        f"\nPOST /one on Postgres, wrk -t{args.threads} -c{args.connections} -d{args.seconds}s,"
        f" median of {args.rounds} rounds"
    )
    medians = {}
    for variant in SCRIPTS:
        mine = [run for run in runs if run.variant == variant]
        medians[variant] = statistics.median(run.rps for run in mine)
        p50 = statistics.median(r.p50_ms for r in mine)
        p99 = statistics.median(r.p99_ms for r in mine)
        print(
            f"  {variant:<20} {medians[variant]:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
            f"   non-2xx or errors {sum(r.errors for r in mine)}"
        )
    print(f"  ratio new key / no key: {medians['new key each'] / medians['no key']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
