"""What telemetry costs `cruncan api` per request: the CPU per request (user + system, from /proc) of
`POST /one` with telemetry off, on (every trace sampled, OTLP/HTTP to a receiver that discards) and at
10% parent-based sampling, driven by `wrk -t2 -c16` in turns (order reversed every other round, medians
of the rounds); and, with `--count`, what one request exports: spans by name, log records and export
requests, from a decoding OTLP receiver, the API stopped (and flushed) before it is read.

    python -m bench.telemetry_cost [--seconds 8] [--rounds 3] [--variants off,on,sampled] [--count] [--baseline DIR]

`--baseline DIR` serves every variant from another checkout too (`git worktree add DIR main`), so that the
two are measured in turns in one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from adapters.postgres.schema import migrate
from bench.load import ROOT
from bench.otlp_sink import NullOtlpSink
from bench.servers import TELEMETRY, Served, serve
from bench.wrk import Run, require_wrk, wrk
from harness.otlp import OtlpReceiver
from harness.postgres import temporary_database
from harness.tansu import start_tansu

CRUNCAN = ["-m", "entrypoints.cli", "api", "--port", "0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="off,on,sampled")
    parser.add_argument("--count", action="store_true", help="count what one request exports, then stop")
    parser.add_argument("--baseline", type=Path, help="also serve each variant from this checkout, in turns")
    args = parser.parse_args()
    require_wrk()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        broker = start_tansu(scratch / "broker.log")
        stack.callback(broker.stop)
        base = {
            "CRUNCAN_MESSAGING__BACKEND": "kafka",
            "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CRUNCAN_STORAGE__BACKEND": "postgres",
            "OTEL_SDK_DISABLED": "false",
        }
        if args.count:
            count(stack, base, args.seconds)
            return
        sink = stack.enter_context(NullOtlpSink().running())
        trees = {"": ROOT, **({"base ": args.baseline.resolve()} if args.baseline else {})}
        servers: dict[str, Served] = {}
        for name in args.variants.split(","):
            for prefix, tree in trees.items():
                dsn = stack.enter_context(temporary_database(f"bench_cost_{prefix.strip()}{name}"))
                migrate(dsn)
                env = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "CRUNCAN_STORAGE__POSTGRES__DSN": dsn}
                label = f"{prefix}{name}"
                servers[label] = stack.enter_context(serve(label, CRUNCAN, {**env, **TELEMETRY[name]}, cwd=tree))
        measure(servers, args.seconds, args.rounds)


def measure(servers: dict[str, Served], seconds: float, rounds: int) -> None:
    for server in servers.values():
        wrk("warm-up", f"{server.url}/one", seconds=3)
    runs: dict[str, list[Run]] = {name: [] for name in servers}
    names = list(servers)
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else names[::-1]:
            server = servers[name]
            before = server.cpu_s()
            run = wrk(name, f"{server.url}/one", seconds=seconds)
            run = dataclasses.replace(run, cpu_s=server.cpu_s() - before)
            runs[name].append(run)
            print(
                f"round {round_number + 1} {name:<13} {run.rps:6.0f} req/s  CPU {run.cpu_ms_per_request:5.2f} ms/req"
                f"  errors {run.errors}  load {run.load_average:.1f}",
                flush=True,
            )
            time.sleep(1)
    print(f"\nmedians of {rounds} rounds, wrk -t2 -c16 -d{seconds:g}s")
    cpu = {name: statistics.median(run.cpu_ms_per_request for run in mine) for name, mine in runs.items()}
    for name, mine in runs.items():
        off = f"{name.rpartition(' ')[0]} off".strip()
        extra = f"  (+{cpu[name] - cpu[off]:.2f} over off)" if off in cpu and name != off else ""
        print(
            f"  {name:<13} {statistics.median(run.rps for run in mine):6.0f} req/s  CPU {cpu[name]:5.2f} ms/req{extra}"
            f"  load {statistics.median(run.load_average for run in mine):.1f}"
        )


def count(stack: ExitStack, base: dict[str, str], seconds: float) -> None:
    """Runs the API at full sampling against a decoding receiver, then divides what arrived by the requests served."""
    receiver = OtlpReceiver().start()
    stack.callback(receiver.stop)
    dsn = stack.enter_context(temporary_database("bench_cost_count"))
    migrate(dsn)
    env = {**base, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "CRUNCAN_STORAGE__POSTGRES__DSN": dsn}
    with serve("counted", CRUNCAN, env) as server:
        time.sleep(2)  # the relay's first passes, which belong to no request
        run = wrk("counted", f"{server.url}/one", seconds=seconds)
        time.sleep(2)
    requests = max(run.requests, 1)
    spans = receiver.spans()
    print(f"{run.requests} requests; {len(spans)} spans, {len(spans) / requests:.2f} per request")
    by_name = Counter((span.scope.rpartition(".")[2], span.kind, span.name) for span in spans)
    example = {(span.scope.rpartition(".")[2], span.kind, span.name): span for span in spans}
    for (scope, kind, name), number in sorted(by_name.items(), key=lambda item: -item[1]):
        keys = sorted(example[scope, kind, name].attributes)
        print(f"  {number / requests:5.2f}  {kind:<9} {scope:<10} {name:<24} {len(keys)} attributes: {' '.join(keys)}")
    print(f"{len(receiver.logs()) / requests:.2f} log records per request")
    for path in ("/v1/traces", "/v1/metrics", "/v1/logs"):
        print(f"{path}: {receiver.requests(path)} export requests")


if __name__ == "__main__":
    main()
