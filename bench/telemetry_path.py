"""What telemetry costs one `POST /one`, without the HTTP server and the scheduler in the way: each
variant (telemetry off, on, 10% parent-based sampling) runs in a process of its own, the API's app and
embedded relay built as `cruncan api` builds them (Postgres + Kafka on Tansu, OTLP/HTTP to a receiver
that discards), and 8 threads call the WSGI app directly. The figure is the process's CPU time (every
thread: request, relay, export) per request, from the first request to the outbox drained and the
telemetry flushed; variants take turns, the order reversed every other round, medians of the rounds.
On a busy machine CPU per request is disturbed far less than a rate, and this path less than wrk's.

    python -m bench.telemetry_path [--requests 4000] [--rounds 3] [--variants off,on,sampled] [--baseline DIR]

`--baseline DIR` runs every variant from another checkout too (say `git worktree add DIR main`, then copy
this file into DIR/bench), interleaved with this one's, so that the two are compared in one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.load import ROOT
from bench.otlp_sink import NullOtlpSink
from bench.servers import TELEMETRY
from bench.stack import real_stack

BODY = b'{"user_id": "bench-user", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'
THREADS = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="off,on,sampled")
    parser.add_argument("--py-spy", type=Path, help="write each variant's GIL samples (py-spy raw) into this directory")
    parser.add_argument("--baseline", type=Path, help="also run each variant from this checkout (with this file in it)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.child.write_text(json.dumps(measure(args.requests)))
        return
    names = args.variants.split(",")
    trees = {"": ROOT, **({"base ": args.baseline.resolve()} if args.baseline else {})}
    variants = [(f"{prefix}{name}", tree, name) for name in names for prefix, tree in trees.items()]
    results: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sink = stack.enter_context(NullOtlpSink().running())
        base = {
            **stack.enter_context(real_stack()),
            "CRUNCAN_LOGGING__FORMAT": "json",
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        }
        for round_number in range(args.rounds):
            for label, tree, name in variants if round_number % 2 == 0 else variants[::-1]:
                out = scratch / "result.json"
                command = [sys.executable, "-m", "bench.telemetry_path", "--child", str(out)]
                command += ["--requests", str(args.requests)]
                if args.py_spy:
                    args.py_spy.mkdir(parents=True, exist_ok=True)
                    stacks = args.py_spy / f"path-{label.replace(' ', '-')}-{round_number + 1}.txt"
                    spy = ["py-spy", "record", "--gil", "--rate", "250", "--format", "raw", "-o", str(stacks), "--"]
                    command = spy + command
                env = {**os.environ, **base, **TELEMETRY[name]}
                with tempfile.TemporaryFile() as console:
                    done = subprocess.run(command, cwd=tree, env=env, stdout=console, stderr=console, check=False)
                    if done.returncode != 0:
                        console.seek(0)
                        raise SystemExit(f"{label} failed:\n{console.read().decode(errors='replace')[-3000:]}")
                result = json.loads(out.read_text())
                results[label].append(result["cpu_us"])
                print(
                    f"round {round_number + 1} {label:<13} CPU {result['cpu_us']:6.0f} µs/request"
                    f"  ({result['rps']:.0f} req/s in-process, load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    print(f"\nmedians of {args.rounds} rounds, {args.requests} requests each, {THREADS} threads")
    medians = {label: statistics.median(values) for label, values in results.items()}
    for label, _tree, name in sorted(variants, key=lambda variant: variant[1] != ROOT):
        off = f"{label.removesuffix(name)}off"
        extra = f"  (+{medians[label] - medians[off]:.0f} over off)" if off in medians and name != "off" else ""
        print(f"  {label:<13} CPU {medians[label]:6.0f} µs/request{extra}")


def measure(requests: int) -> dict[str, Any]:
    """In the child: builds the API as `cruncan api` does, drives it, returns CPU µs per request."""
    from entrypoints.api.app import create_app
    from entrypoints.api.container import build_container
    from entrypoints.components import start_telemetry
    from entrypoints.settings import load_settings, secret_values
    from runtime.background import BackgroundLoop

    settings = load_settings(None, os.environ, [])
    telemetry = start_telemetry(
        "cruncan-api", settings.environment(), "INFO", secret_values(settings), settings.logging.format()
    )
    container = build_container(settings, telemetry)
    container.probes()
    container.ingest()
    app = create_app(container)
    container.relaying.observe_backlog()
    relay = BackgroundLoop("outbox relay", container.relaying.loop().run)
    relay.start()
    try:
        drive(app, 500)
        drained(container)
        started, cpu = time.perf_counter(), time.process_time()
        drive(app, requests)
        drained(container)
        telemetry.force_flush()
        cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    finally:
        relay.stop(10)
        container.shutdown_resources()
        telemetry.shutdown()
    return {"cpu_us": cpu * 1e6 / requests, "rps": requests / elapsed}


def drive(app: Any, requests: int) -> None:
    """`requests` POST /one calls of the WSGI app, from `THREADS` threads; every answer must be 201."""
    from werkzeug.test import EnvironBuilder

    template = EnvironBuilder(path="/one", method="POST", data=BODY, content_type="application/json").get_environ()
    failures: list[str] = []

    def client(count: int) -> None:
        statuses: list[str] = []

        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            statuses.append(status)

        for _ in range(count):
            for _chunk in app({**template, "wsgi.input": io.BytesIO(BODY)}, start_response):
                pass
        failures.extend(status for status in statuses if not status.startswith("201"))

    threads = [threading.Thread(target=client, args=(requests // THREADS,)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")


def drained(container: Any, timeout_s: float = 60) -> None:
    """Waits until the relay has published everything stored."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with container.storage.unit_of_work() as unit:
            if unit.outbox.backlog() == 0:
                return
        time.sleep(0.02)
    raise RuntimeError("the outbox did not drain")


if __name__ == "__main__":
    main()
