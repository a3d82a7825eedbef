"""The API's figures side by side in one run, each driven by wrk (`POST /one`, `bench/post_one.lua`):
cruncan on Postgres + Kafka (Tansu; relay embedded; default settings) with telemetry off, on (every
trace sampled, OTLP to a receiver that discards), and at 10% parent-based sampling, against the bare
handler (`bench/baseline_app.py`: Flask on waitress, 16 threads, a psycopg2 pool minconn = maxconn, one
INSERT); -c64 against -c16 for both; two bare processes on one socket against `http.processes=2`
(telemetry off); and the API's RSS after N and 10 N requests.

Every server runs for the whole benchmark, on a database of its own. The variants take turns (the
order reversed every other round, after an uncounted warm-up of each) and the median of the rounds
counts, so slow drift on a shared machine falls on all of them alike. Each figure is printed with the
1-minute load average when its run ended and the CPU the server process(es) used per request (user +
system, from /proc), which a busy machine disturbs far less than requests per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from adapters.postgres.schema import migrate
from bench.otlp_sink import NullOtlpSink
from bench.servers import SAMPLED, Served, serve
from bench.wrk import Run, require_wrk, wrk
from harness.postgres import ADMIN_DSN, query, temporary_database
from harness.tansu import start_tansu

CRUNCAN = ["-m", "entrypoints.cli", "api", "--port", "0"]


@dataclass(frozen=True)
class Variant:
    name: str
    server: str
    connections: int


VARIANTS = (
    Variant("bare -c16", "bare", 16),
    Variant("telemetry off -c16", "off", 16),
    Variant("telemetry on -c16", "on", 16),
    Variant("10% sampled -c16", "sampled", 16),
    Variant("bare -c64", "bare", 64),
    Variant("telemetry off -c64", "off", 64),
    Variant("bare 2 processes -c16", "bare2", 16),
    Variant("cruncan http.processes=2 -c16", "off2", 16),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-requests", type=int, default=10_000, help="RSS is read after N and 10 N requests")
    parser.add_argument("--quick", action="store_true", help="5 s runs, RSS after 2,000 and 20,000 requests")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rss_requests = 5, 2_000
        print("QUICK MODE: fewer rounds and shorter runs than the figures issue 9 asks for", flush=True)
    require_wrk()
    check_connection_room()
    with ExitStack() as stack:
        servers = _start_servers(stack)
        for variant in VARIANTS:  # warm-up, not counted: opens pools, connections and the JIT-free caches
            wrk(variant.name, f"{servers[variant.server].url}/one", seconds=3, connections=variant.connections)
        runs: list[Run] = []
        for round_number in range(args.rounds):
            order = VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                server = servers[variant.server]
                cpu_before = server.cpu_s()
                run = wrk(variant.name, f"{server.url}/one", seconds=args.seconds, connections=variant.connections)
                run = dataclasses.replace(run, cpu_s=server.cpu_s() - cpu_before)
                runs.append(run)
                print(
                    f"round {round_number + 1} {variant.name:<30} {run.rps:7.0f} req/s  p50 {run.p50_ms:6.1f} ms"
                    f"  p99 {run.p99_ms:6.1f} ms  CPU {run.cpu_ms_per_request:5.2f} ms/req  errors {run.errors}"
                    f"  load {run.load_average:.1f}",
                    flush=True,
                )
                time.sleep(1)
        report(args, runs)
        rss(servers["on"], args.rss_requests)


# What the servers hold at once: the bare handler's pools are full from the start (16, and 2 x 16); each
# cruncan process lends a connection per request thread (http.threads, 8), one to its relay and keeps
# one listening for the outbox's NOTIFY; five cruncan processes run (off, on, sampled, and two for off2).
CONNECTIONS_NEEDED = 16 + 2 * 16 + 5 * (8 + 1 + 1)


def check_connection_room() -> None:
    """Stops with a clear message when the Postgres server has too few connections to spare."""
    [(limit, in_use)] = query(
        ADMIN_DSN,
        "SELECT current_setting('max_connections')::int,"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')",
    )
    if limit - in_use < CONNECTIONS_NEEDED:
        raise SystemExit(
            f"the API figures hold about {CONNECTIONS_NEEDED} Postgres connections at once, and the server has"
            f" {limit - in_use} to spare (max_connections {limit}, {in_use} in use): raise max_connections"
            " (ALTER SYSTEM SET max_connections = 200, then restart Postgres) or stop what holds them"
        )


def _start_servers(stack: ExitStack) -> dict[str, Served]:
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    broker = start_tansu(scratch / "broker.log")
    stack.callback(broker.stop)
    sink = stack.enter_context(NullOtlpSink().running())
    kafka = {
        "CRUNCAN_MESSAGING__BACKEND": "kafka",
        "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CRUNCAN_STORAGE__BACKEND": "postgres",
    }
    exporting = {"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
    telemetry = {
        "off": {"OTEL_SDK_DISABLED": "true"},
        "off2": {"OTEL_SDK_DISABLED": "true", "CRUNCAN_HTTP__PROCESSES": "2"},
        "on": exporting,
        "sampled": {**exporting, **SAMPLED},
    }
    servers = {}
    for name in ("bare", "bare2", "off", "off2", "on", "sampled"):
        dsn = stack.enter_context(temporary_database(f"bench_{name}"))
        migrate(dsn)
        if name.startswith("bare"):
            processes = "2" if name == "bare2" else "1"
            arguments = ["-m", "bench.baseline_app", "--dsn", dsn, "--threads", "16", "--processes", processes]
            servers[name] = stack.enter_context(serve(name, arguments, {}))
        else:
            env = {**kafka, **telemetry[name], "CRUNCAN_STORAGE__POSTGRES__DSN": dsn}
            servers[name] = stack.enter_context(serve(name, CRUNCAN, env))
    return servers


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    medians: dict[str, Run] = {}
    print(f"\nPOST /one, wrk -t2 -d{args.seconds:g}s, median of {args.rounds} rounds")
    print("(CPU: the server's CPU time per request; load: the 1-minute load average)")
    for variant in VARIANTS:
        mine = sorted((run for run in runs if run.variant == variant.name), key=lambda run: run.rps)
        medians[variant.name] = median = mine[len(mine) // 2]
        print(
            f"  {variant.name:<30} {median.rps:7.0f} req/s  p50 {statistics.median(r.p50_ms for r in mine):6.1f} ms"
            f"  p99 {statistics.median(r.p99_ms for r in mine):6.1f} ms"
            f"  CPU {statistics.median(r.cpu_ms_per_request for r in mine):5.2f} ms/req"
            f"  errors {sum(r.errors for r in mine)}"
            f"  load {statistics.median(r.load_average for r in mine):.1f}"
        )
    rps: Callable[[str], float] = lambda name: medians[name].rps  # noqa: E731
    print("\nratios (goal in brackets)")
    lines = [
        ("telemetry off / bare, -c16", rps("telemetry off -c16") / rps("bare -c16"), 1.0),
        ("telemetry on / bare, -c16", rps("telemetry on -c16") / rps("bare -c16"), 0.75),
        ("10% sampled / bare, -c16", rps("10% sampled -c16") / rps("bare -c16"), 0.9),
        ("cruncan -c64 / -c16 (telemetry off)", rps("telemetry off -c64") / rps("telemetry off -c16"), 0.9),
        ("bare -c64 / -c16", rps("bare -c64") / rps("bare -c16"), None),
        ("bare 2 processes / 1 process", rps("bare 2 processes -c16") / rps("bare -c16"), None),
        (
            "http.processes=2 / 1 (telemetry off)",
            rps("cruncan http.processes=2 -c16") / rps("telemetry off -c16"),
            None,
        ),
        (
            "http.processes=2 / bare 2 processes",
            rps("cruncan http.processes=2 -c16") / rps("bare 2 processes -c16"),
            0.9,
        ),
    ]
    for label, ratio, goal in lines:
        verdict = "" if goal is None else f"  [≥ {goal:.2f}: {'met' if ratio >= goal else 'NOT met'}]"
        print(f"  {label:<40} {ratio:5.2f}{verdict}")
    print("\nCPU per request, bare / variant (what the throughput ratio would be if each had a core to itself)")
    cpu = {
        name: statistics.median(run.cpu_ms_per_request for run in runs if run.variant == name)
        for name in ("bare -c16", "telemetry off -c16", "telemetry on -c16", "10% sampled -c16")
    }
    for name in list(cpu)[1:]:
        print(f"  {name:<40} {cpu['bare -c16'] / cpu[name]:5.2f}")
    pair = {
        name: statistics.median(run.cpu_ms_per_request for run in runs if run.variant == name)
        for name in ("bare 2 processes -c16", "cruncan http.processes=2 -c16")
    }
    print(
        f"  {'http.processes=2 (vs bare 2 processes)':<40}"
        f" {pair['bare 2 processes -c16'] / pair['cruncan http.processes=2 -c16']:5.2f}"
    )


def rss(server: Served, first: int) -> None:
    """Drives the telemetry-on API until it has served `first`, then ten times `first` requests, reading RSS at each."""
    served, readings = 0, []
    for target in (first, first * 10):
        while served < target:
            served += wrk("rss", f"{server.url}/one", seconds=5).requests
        readings.append((served, server.rss_mb()))
    (few, small), (many, large) = readings
    print(
        f"\nAPI RSS (telemetry on): {small:.1f} MB after {few:,} requests, {large:.1f} MB after {many:,}:"
        f" {large / small - 1:+.1%} [goal within 10%: {'met' if large <= small * 1.1 else 'NOT met'}]"
    )


if __name__ == "__main__":
    main()
