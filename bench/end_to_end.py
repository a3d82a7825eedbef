"""End to end: `POST /one` sent to `cruncan api` → the third party receives the forward from
`cruncan worker`, on Postgres + Kafka (Tansu), telemetry on in both (every trace sampled, OTLP to a
receiver that discards), against the stand-in third party answering in 0 ms in a process of its own,
which prints when each request ID arrives.

The API's maximum ingest rate is taken first with wrk (`-c16`); once the worker has caught up, requests
are sent at half that rate, evenly spaced, for `--seconds`, and each one's latency is its arrival at the
third party minus the moment it was sent. The paced sender is Python: it decides no throughput figure,
and at half the maximum rate it is never the bottleneck (late sends are reported).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import time
from contextlib import ExitStack

import urllib3

from bench.forwarding import ASSIGNED, CLIENT_ID, forwarded, stand_in
from bench.load import BODY
from bench.otlp_sink import NullOtlpSink
from bench.servers import Served, serve
from bench.stack import real_stack
from bench.wrk import require_wrk, wrk
from harness.postgres import query

SETTLE_TIMEOUT_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="10 s of paced requests")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10
        print("QUICK MODE: fewer rounds and shorter runs than the figures issue 9 asks for", flush=True)
    require_wrk()
    client_secret = secrets.token_urlsafe(16)
    receipts: dict[str, float] = {}
    with ExitStack() as stack:
        env = stack.enter_context(real_stack())
        sink = stack.enter_context(NullOtlpSink().running())
        url = stack.enter_context(stand_in(client_secret, 16, 0.0, receipts))
        env = {
            **env,
            "OTEL_SDK_DISABLED": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "CRUNCAN_TOKEN__URL": url,
            "CRUNCAN_TOKEN__CLIENT_ID": CLIENT_ID,
            "CRUNCAN_TOKEN__CLIENT_SECRET": client_secret,
            "CRUNCAN_THIRD_PARTY__URL": url,
            "CRUNCAN_WORKER__HEALTH__PORT": "0",
        }
        api = stack.enter_context(serve("e2e api", ["-m", "entrypoints.cli", "api", "--port", "0"], env))
        stack.enter_context(serve("e2e worker", ["-m", "entrypoints.cli", "worker"], env, ready=ASSIGNED))
        wrk("warm-up", f"{api.url}/one", seconds=3)
        maximum = wrk("maximum", f"{api.url}/one", seconds=10)
        _settle(env["CRUNCAN_STORAGE__POSTGRES__DSN"])
        rate = maximum.rps / 2
        print(f"maximum ingest rate {maximum.rps:.0f} req/s (load {maximum.load_average:.1f}); pacing at {rate:.0f}/s")
        sent, late = _paced(api, rate, args.seconds)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(request_id in receipts for request_id in sent):
            time.sleep(0.1)
    latencies = sorted((receipts[request_id] - at) * 1000 for request_id, at in sent.items() if request_id in receipts)
    lost = len(sent) - len(latencies)
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    print(
        f"\nend to end, POST /one sent → third party received, telemetry on, {rate:.0f} req/s for {args.seconds:g} s"
        f" ({len(sent)} requests, {late} sent late, {lost} not received within 30 s; load {os.getloadavg()[0]:.1f})"
    )
    print(f"  p50 {p50:6.1f} ms  [goal ≤ 20: {'met' if p50 <= 20 else 'NOT met'}]")
    print(f"  p99 {p99:6.1f} ms  [goal ≤ 100: {'met' if p99 <= 100 else 'NOT met'}]")
    print(f"  mean {statistics.fmean(latencies):.1f} ms, max {latencies[-1]:.1f} ms")


def _paced(api: Served, rate: float, seconds: float) -> tuple[dict[str, float], int]:
    """Sends one request every 1/rate s for `seconds` from one connection; returns when each ID was sent."""
    pool = urllib3.PoolManager(maxsize=1, retries=False)
    headers = {"Content-Type": "application/json"}
    sent: dict[str, float] = {}
    late = 0
    interval = 1 / rate
    next_at = time.monotonic()
    ends = next_at + seconds
    while next_at < ends:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -interval:
            late += 1
        at = time.time()
        response = pool.request("POST", f"{api.url}/one", body=BODY, headers=headers)
        if response.status == 201:
            sent[json.loads(response.data)["request_id"]] = at
        next_at += interval
    return sent, late


def _settle(dsn: str) -> None:
    """Waits until the worker has forwarded everything stored so far."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        [(stored,)] = query(dsn, "SELECT count(*) FROM request")
        if forwarded(dsn) >= stored:
            return
        time.sleep(0.2)
    raise RuntimeError("the worker did not catch up with the stored requests")


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


if __name__ == "__main__":
    main()
