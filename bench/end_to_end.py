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
import re
import secrets
import statistics
import time
from contextlib import ExitStack

import urllib3

from bench import spans
from bench.forwarding import ASSIGNED, CLIENT_ID, TANSU_FETCH_WAIT_MAX_MS, forwarded, stand_in
from bench.load import BODY
from bench.otlp_sink import NullOtlpSink
from bench.servers import Served, serve
from bench.stack import real_stack
from bench.wrk import require_wrk, wrk
from harness.postgres import query

SETTLE_TIMEOUT_S = 120.0
RELAYING = re.compile("cruncan relay publishing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--quick", action="store_true", help="10 s of paced requests")
    parser.add_argument("--hops", action="store_true", help="keep the spans; print where the milliseconds go")
    parser.add_argument("--rate", type=float, help="requests/s to pace at (default: half the maximum)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for both")
    parser.add_argument(
        "--relay-process", action="store_true", help="run `cruncan relay` on its own (relay.embedded=false)"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10
        print("QUICK MODE: fewer rounds and shorter runs than the figures issue 9 asks for", flush=True)
    require_wrk()
    client_secret = secrets.token_urlsafe(16)
    receipts: dict[str, float] = {}
    with ExitStack() as stack:
        env = stack.enter_context(real_stack())
        sink = stack.enter_context(NullOtlpSink(keep_traces=args.hops).running())
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
            "CRUNCAN_MESSAGING__KAFKA__CONSUMER_FETCH_WAIT_MAX_MS": str(TANSU_FETCH_WAIT_MAX_MS),
            **settings_env([*args.set, *(["relay.embedded=false"] if args.relay_process else [])]),
        }
        api = stack.enter_context(serve("e2e api", ["-m", "entrypoints.cli", "api", "--port", "0"], env))
        if args.relay_process:
            stack.enter_context(serve("e2e relay", ["-m", "entrypoints.cli", "relay"], env, ready=RELAYING))
        stack.enter_context(serve("e2e worker", ["-m", "entrypoints.cli", "worker"], env, ready=ASSIGNED))
        wrk("warm-up", f"{api.url}/one", seconds=3)
        maximum = wrk("maximum", f"{api.url}/one", seconds=10)
        _settle(env["CRUNCAN_STORAGE__POSTGRES__DSN"])
        rate = args.rate or maximum.rps / 2
        print(f"maximum ingest rate {maximum.rps:.0f} req/s (load {maximum.load_average:.1f}); pacing at {rate:.0f}/s")
        kept = len(sink.traces)
        began = time.monotonic()
        sent, late = _paced(api, rate, args.seconds)
        achieved = len(sent) / (time.monotonic() - began)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(request_id in receipts for request_id in sent):
            time.sleep(0.1)
    latencies = sorted((receipts[request_id] - at) * 1000 for request_id, at in sent.items() if request_id in receipts)
    lost = len(sent) - len(latencies)
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    print(
        f"\nend to end, POST /one sent → third party received, telemetry on, {rate:.0f} req/s asked, {achieved:.0f}"
        f" sent, for {args.seconds:g} s ({len(sent)} requests, {late} sent late, {lost} not received within 30 s;"
        f" load {os.getloadavg()[0]:.1f})"
    )
    print(f"  p50 {p50:6.1f} ms  [goal ≤ 20: {'met' if p50 <= 20 else 'NOT met'}]")
    print(f"  p99 {p99:6.1f} ms  [goal ≤ 100: {'met' if p99 <= 100 else 'NOT met'}]")
    print(f"  mean {statistics.fmean(latencies):.1f} ms, max {latencies[-1]:.1f} ms")
    if args.hops:
        print_hops(spans.decoded(sink.traces[kept:]), sent, receipts)


def settings_env(settings: list[str]) -> dict[str, str]:
    """`section.key=value` settings as the CRUNCAN_SECTION__KEY variables both processes read."""
    env = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        env["CRUNCAN_" + key.upper().replace(".", "__")] = value
    return env


def print_hops(kept: list[spans.TimedSpan], sent: dict[str, float], receipts: dict[str, float]) -> None:
    """Where each paced request's milliseconds went, from its trace and the stand-in's receipt."""
    hops: dict[str, list[float]] = {
        "client sends → API's server span starts": [],
        "API handles POST /one (server span)": [],
        "server span ends → relay's producer span starts": [],
        "producer span (linger, broker's acknowledgement)": [],
        "producer span starts → worker's process span starts": [],
        "process span starts → POST to the third party starts": [],
        "POST starts → the third party has it": [],
        "total: client sends → the third party has it": [],
    }
    for trace in spans.by_trace(kept).values():
        server = spans.first(trace, lambda span: span.kind == "server" and span.name == "POST /one")
        producer = spans.first(trace, lambda span: span.kind == "producer")
        process = spans.first(trace, lambda span: span.kind == "consumer")
        post = spans.first(trace, lambda span: span.kind == "client" and span.name == "POST")
        if server is None or producer is None or process is None or post is None:
            continue
        request_id = process.key
        if request_id not in sent or request_id not in receipts:
            continue
        at_ms = [sent[request_id] * 1000, *(ns / 1e6 for ns in (server.start_ns, server.end_ns, producer.start_ns))]
        at_ms += [producer.end_ns / 1e6, process.start_ns / 1e6, post.start_ns / 1e6, receipts[request_id] * 1000]
        for hop, value in zip(hops, hop_values(at_ms), strict=True):
            hops[hop].append(value)
    traces = len(hops["total: client sends → the third party has it"])
    spans.print_hops(f"where the milliseconds go ({traces} traces)", hops)


def hop_values(at_ms: list[float]) -> list[float]:
    sent, server_start, server_end, produce_start, produce_end, process_start, post_start, received = at_ms
    return [
        server_start - sent,
        server_end - server_start,
        produce_start - server_end,
        produce_end - produce_start,
        process_start - produce_start,
        post_start - process_start,
        received - post_start,
        received - sent,
    ]


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
