"""Forwarding throughput of `cruncan worker` on real Postgres + Kafka (Tansu), telemetry on (every trace
sampled, OTLP to a receiver that discards), at concurrency 1 and at the default, against a bare
hand-written loop (`bench/bare_forwarder.py`: consume, cached token, urllib3 POST, one UPDATE, commit),
each against the demo's stand-in token API and third party in a process of its own, answering in 0 ms
and in 20 ms. The three take turns for several rounds and the median counts.

Each run stores and publishes its messages to a topic of its own first, then starts the forwarder. Its
rate counts from the first to the last of its messages recorded as forwarded, so that start-up (joining
the group, the first fetch, the first connections) does not weigh on short runs; its CPU time (user +
system, from /proc) counts from its partition assignment to its last message. At 20 ms the default
concurrency gets as many more messages as it has slots, so that its run lasts as long as the others'.

`--hops` keeps the worker's spans and prints where a message's milliseconds go (third-party call,
recording the outcome, the slots' occupancy); `--rss-messages N` reads the worker's RSS after N and
10 N messages (telemetry on, third party at 0 ms)."""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
from psycopg2.extras import execute_values

from adapters.kafka.producer import KafkaPublisher
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from adapters.system import SystemClock
from bench import spans
from bench.load import ROOT
from bench.otlp_sink import NullOtlpSink
from bench.servers import Served
from bench.stack import real_stack
from domain.model.message import OutboxMessage, PendingMessage, RequestMessage, ThreeRequest
from domain.model.request import OneRequest
from domain.model.token import AccessToken
from domain.services.snowflake import SnowflakeIdGenerator
from entrypoints.api.server import WaitressServer
from entrypoints.demo.stand_in import create_stand_in_app
from entrypoints.lifecycle import shutdown_requested, wait_for
from entrypoints.settings import load_settings
from harness.postgres import query

CLIENT_ID = "cruncan"
ASSIGNED = re.compile(r"assigned .*\[\d+\]|^assigned$")
PARTITIONS = 3
TANSU_FETCH_WAIT_MAX_MS = 10  # what the README says to set against Tansu
BODY = {"user_id": "bench", "prompt": "forward me", "data": [{"key": "k", "value": "v"}]}
PUBLISH_BATCH = 1000
INSERT_REQUESTS = "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status) VALUES %s"
RUN_TIMEOUT_S = 600.0
RSS_AHEAD = 3 * PUBLISH_BATCH


@dataclass(frozen=True)
class Run:
    forwarder: str
    messages: int
    seconds: float
    """From the first to the last message recorded as forwarded."""
    total_s: float
    """From partition assignment to the last message recorded as forwarded."""
    cpu_ms_per_message: float
    load_average: float

    @property
    def rate(self) -> float:
        return (self.messages - 1) / self.seconds if self.seconds > 0 else float("nan")


class PrintedReceipts(InMemoryThirdParty):
    """The in-memory third party, printing `received ID UNIX_TIME` for each request it accepts."""

    _printing = threading.Lock()

    def send(self, request: ThreeRequest, token: AccessToken) -> None:
        super().send(request, token)
        line = f"received {request.id} {time.time():.6f}"
        with self._printing:  # one whole line at a time from the request threads
            print(line, flush=True)


def serve_stand_in(client_secret: str, threads: int, latency_ms: float) -> None:
    """Runs in its own process: the stand-ins on a free port, until SIGTERM; with BENCH_PRINT_RECEIPTS
    set, a line per request received."""
    clock = SystemClock()
    issuer = InMemoryTokenIssuer(clock)
    kind = PrintedReceipts if os.environ.get("BENCH_PRINT_RECEIPTS") else InMemoryThirdParty
    third_party = kind(issuer, latency_s=latency_ms / 1000)
    app = create_stand_in_app(
        issuer, third_party, clock, client_id=CLIENT_ID, client_secret=client_secret, jwks=lambda: {"keys": []}
    )
    server = WaitressServer(app, host="127.0.0.1", port=0, threads=threads)
    with shutdown_requested() as stop:
        server.start()
        print(server.url, flush=True)
        wait_for(stop)
        server.stop(5.0)


@contextmanager
def stand_in(
    client_secret: str, threads: int, latency_ms: float, receipts: dict[str, float] | None = None
) -> Iterator[str]:
    """The stand-ins in a process of their own; with `receipts`, fills it with when each request ID arrived."""
    command = [sys.executable, "-m", "bench.forwarding", "--serve-stand-in", "--stand-in-threads", str(threads)]
    printing = {"BENCH_PRINT_RECEIPTS": "1"} if receipts is not None else {}
    process = subprocess.Popen(
        [*command, "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        env={**os.environ, "BENCH_CLIENT_SECRET": client_secret, **printing},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the stand-in did not start (exit status {process.poll()})")
        if receipts is not None:
            threading.Thread(target=_read_receipts, args=(process.stdout, receipts), daemon=True).start()
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _read_receipts(lines: Iterable[str], receipts: dict[str, float]) -> None:
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "received":
            request_id, _, at = rest.strip().partition(" ")
            receipts[request_id] = float(at)


def publish(dsn: str, bootstrap_servers: str, topic: str, messages: int) -> list[str]:
    """Stores `messages` requests as published and puts their messages on `topic`, as the API and its
    relay would, but in bulk (one INSERT per thousand rows): setting up a run takes seconds, not minutes.
    Returns their request IDs."""
    ids = SnowflakeIdGenerator(SystemClock(), node=9)
    publisher = KafkaPublisher(
        bootstrap_servers,
        topic,
        partitions=PARTITIONS,
        replication_factor=1,
        linger_ms=5,
        delivery_timeout_ms=30_000,
        request_timeout_ms=10_000,
    )
    request_ids: list[str] = []
    try:
        with closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cursor:
            connection.autocommit = True
            for start in range(0, messages, PUBLISH_BATCH):
                batch = [
                    (ids.next_id(), OneRequest.from_json({**BODY, "user_id": f"bench-{n % 50}"}))
                    for n in range(start, min(start + PUBLISH_BATCH, messages))
                ]
                now = datetime.now(UTC)
                rows = [
                    (request_id, body.user_id, now, now, json.dumps(body.to_json()), "published")
                    for request_id, body in batch
                ]
                execute_values(cursor, INSERT_REQUESTS, rows)
                pending = [
                    PendingMessage(n, OutboxMessage(request_id, RequestMessage(request_id, body).encode(), now))
                    for n, (request_id, body) in enumerate(batch)
                ]
                if len(publisher.publish(pending)) != len(pending):
                    raise RuntimeError("the broker did not acknowledge every message")
                request_ids.extend(request_id for request_id, _ in batch)
    finally:
        publisher.close(timeout_s=10)
    return request_ids


def forwarded(dsn: str) -> int:
    [(count,)] = query(dsn, "SELECT count(*) FROM request WHERE status = 'forwarded'")
    return int(count)


def forwarded_span(dsn: str, request_ids: list[str]) -> tuple[int, float]:
    """How many of `request_ids` are forwarded, and the seconds between the first and the last of them
    to be recorded as forwarded."""
    [(count, seconds)] = query(
        dsn,
        "SELECT count(*), EXTRACT(EPOCH FROM max(updated_at) - min(updated_at)) FROM request"
        " WHERE status = 'forwarded' AND req_id = ANY(%s)",
        request_ids,
    )
    return int(count), float(seconds or 0.0)


def forwarder_command(
    forwarder: str, env: dict[str, str], stand_in_url: str, client_secret: str, topic: str
) -> list[str]:
    """`cruncan worker` at concurrency N for `cruncan N`, else the bare loop, reading `topic`."""
    dsn = env["CRUNCAN_STORAGE__POSTGRES__DSN"]
    bootstrap_servers = env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"]
    if forwarder == "bare":
        command = [sys.executable, "-m", "bench.bare_forwarder", "--dsn", dsn, "--bootstrap-servers", bootstrap_servers]
        return [*command, "--topic", topic, "--group", f"{topic}-bare", "--url", stand_in_url, "--client-id", CLIENT_ID]
    settings = {
        "messaging.kafka.topic": topic,
        "messaging.kafka.partitions": str(PARTITIONS),
        "messaging.kafka.consumer_fetch_wait_max_ms": str(TANSU_FETCH_WAIT_MAX_MS),
        "worker.group_id": f"{topic}-workers",
        "worker.concurrency": forwarder.split()[1],
        "worker.session_timeout_ms": "3000",
        "worker.health.port": "0",
        "token.url": stand_in_url,
        "token.client_id": CLIENT_ID,
        "token.client_secret": client_secret,
        "third_party.url": stand_in_url,
    }
    command = [sys.executable, "-m", "entrypoints.cli", "worker"]
    return command + [argument for key, value in settings.items() for argument in ("--set", f"{key}={value}")]


@contextmanager
def started(command: list[str], env: dict[str, str], client_secret: str) -> Iterator[Served]:
    """The forwarder, once it has been assigned partitions; SIGTERMed on the way out."""
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "BENCH_CLIENT_SECRET": client_secret},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if ASSIGNED.search(line):
                break
        else:
            raise RuntimeError(f"{command[2]} exited with {worker.wait()} before it was assigned partitions")
        threading.Thread(target=worker.stdout.read, daemon=True).start()
        yield Served("", worker.pid)
    finally:
        worker.terminate()
        worker.wait(60)


def timed_run(env: dict[str, str], stand_in_url: str, client_secret: str, forwarder: str, messages: int) -> Run:
    """Publishes `messages` to a new topic, starts `forwarder` (`cruncan N` or `bare`) on it, times it
    from its first to its last message recorded as forwarded (start-up apart), and takes its CPU time
    from its assignment to the last message."""
    dsn = env["CRUNCAN_STORAGE__POSTGRES__DSN"]
    topic = f"bench-forwarding-{uuid.uuid4().hex[:8]}"
    request_ids = publish(dsn, env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"], topic, messages)
    with started(forwarder_command(forwarder, env, stand_in_url, client_secret, topic), env, client_secret) as worker:
        assigned, cpu_s = time.perf_counter(), worker.cpu_s()
        while (done := forwarded_span(dsn, request_ids))[0] < messages:
            if time.perf_counter() - assigned > RUN_TIMEOUT_S:
                raise RuntimeError(f"{forwarder} forwarded only {done[0]} of {messages} in {RUN_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        total_s, cpu_s = time.perf_counter() - assigned, worker.cpu_s() - cpu_s
    return Run(forwarder, messages, done[1], total_s, cpu_s * 1000 / messages, os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (a quarter at 20 ms)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, 500 messages, RSS after 2,000 and 20,000")
    parser.add_argument("--latencies", default="0,20", help="the third party's answering times, in ms ('': none)")
    parser.add_argument("--forwarders", help="comma-separated, e.g. 'cruncan 8,bare' (default: 1, the default, bare)")
    parser.add_argument("--hops", action="store_true", help="keep the worker's spans; print where its time goes")
    parser.add_argument(
        "--rss-messages", type=int, default=10_000, help="RSS is read after N and 10 N messages (0: not at all)"
    )
    parser.add_argument("--latency-ms", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--stand-in-threads", type=int, default=16)
    parser.add_argument("--serve-stand-in", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stand_in:
        serve_stand_in(os.environ["BENCH_CLIENT_SECRET"], args.stand_in_threads, args.latency_ms)
        return
    if args.quick:
        args.rounds, args.messages, args.rss_messages = 1, 500, min(args.rss_messages, 2_000)
        print("QUICK MODE: fewer rounds and shorter runs than the figures issue 9 asks for", flush=True)
    default = int(load_settings(environ={}).worker.concurrency())
    forwarders = args.forwarders.split(",") if args.forwarders else ["cruncan 1", f"cruncan {default}", "bare"]
    client_secret = secrets.token_urlsafe(16)
    sink = NullOtlpSink(keep_traces=args.hops)
    with real_stack() as stack, sink.running():
        env = {**stack, "OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
        for latency_ms in (float(latency) for latency in args.latencies.split(",") if latency):
            runs: list[Run] = []
            with stand_in(client_secret, args.stand_in_threads, latency_ms) as url:
                for round_number in range(args.rounds):
                    for forwarder in forwarders if round_number % 2 == 0 else forwarders[::-1]:
                        messages = messages_for(forwarder, latency_ms, args.messages)
                        kept = len(sink.traces)
                        runs.append(timed_run(env, url, client_secret, forwarder, messages))
                        print(f"round {round_number + 1} {latency_ms:g} ms {line(runs[-1])}", flush=True)
                        if args.hops and forwarder != "bare":
                            print_hops(spans.decoded(sink.traces[kept:]))
            report(latency_ms, args.rounds, forwarders, runs, default)
        if args.rss_messages:
            with stand_in(client_secret, args.stand_in_threads, 0.0) as url:
                worker_rss(env, url, client_secret, f"cruncan {default}", args.rss_messages)


def messages_for(forwarder: str, latency_ms: float, messages: int) -> int:
    """A quarter of `messages` at 20 ms, times the forwarder's concurrency, so that runs last alike."""
    if latency_ms < 1:
        return messages
    concurrency = 1 if forwarder == "bare" else int(forwarder.split()[1])
    return max(messages // 4, 100) * concurrency


def line(run: Run) -> str:
    return (
        f"{run.forwarder:<10} {run.messages:6d} messages {run.rate:7.1f} msg/s"
        f" (start-up {run.total_s - run.seconds:4.2f} s)  CPU {run.cpu_ms_per_message:5.2f} ms/message"
        f"  load {run.load_average:.1f}"
    )


def report(latency_ms: float, rounds: int, forwarders: list[str], runs: list[Run], default: int) -> None:
    print(f"\n== forwarding, third party answering in {latency_ms:g} ms, median of {rounds}")
    rate, cpu = {}, {}
    for forwarder in forwarders:
        mine = [run for run in runs if run.forwarder == forwarder]
        rate[forwarder] = statistics.median(run.rate for run in mine)
        cpu[forwarder] = statistics.median(run.cpu_ms_per_message for run in mine)
        load = statistics.median(run.load_average for run in mine)
        label = f"{forwarder} (telemetry on)" if forwarder != "bare" else "bare loop"
        print(f"  {label:<28} {rate[forwarder]:8.1f} messages/s  CPU {cpu[forwarder]:5.2f} ms/message  load {load:.1f}")
    one, many, bare = (rate.get(name) for name in ("cruncan 1", f"cruncan {default}", "bare"))
    if one and bare:
        verdict = "met" if one >= bare else "NOT met"
        print(f"  cruncan concurrency 1 / bare loop: {one / bare:.2f}  [goal ≥ 1.00: {verdict}]")
        print(f"  CPU per message, bare loop / cruncan concurrency 1: {cpu['bare'] / cpu['cruncan 1']:.2f}")
    if many and bare:
        print(f"  cruncan concurrency {default} / bare loop: {many / bare:.2f}")
    if many and latency_ms == 20.0:
        ideal = default / 0.020
        verdict = "met" if many >= 0.8 * ideal else "NOT met"
        print(
            f"  cruncan concurrency {default} / ideal {ideal:.0f} msg/s: {many / ideal:.2f}  [goal ≥ 0.80: {verdict}]"
        )


def print_hops(kept: list[spans.TimedSpan]) -> None:
    """Per message, from the worker's spans: the third-party call, recording the outcome (the pool's
    check-out, BEGIN, UPDATE, COMMIT) and the rest; and how many messages were in their process span at once."""
    hops: dict[str, list[float]] = {
        "process span (one message, decoded to recorded)": [],
        "  third party: POST span": [],
        "  recording: POST's end to the commit's end": [],
        "  after the commit (unit of work closed, span ended)": [],
    }
    processing = []
    for trace in spans.by_trace(kept).values():
        process = spans.first(trace, lambda span: span.kind == "consumer")
        post = spans.first(trace, lambda span: span.kind == "client" and span.name == "POST")
        commit = spans.last(trace, lambda span: span.name == "UnitOfWork.commit")  # the COMMIT is its one statement
        if process is None or post is None or commit is None:
            continue
        processing.append(process)
        hops["process span (one message, decoded to recorded)"].append(process.ms)
        hops["  third party: POST span"].append(post.ms)
        hops["  recording: POST's end to the commit's end"].append((commit.end_ns - post.end_ns) / 1e6)
        hops["  after the commit (unit of work closed, span ended)"].append((process.end_ns - commit.end_ns) / 1e6)
    spans.print_hops(f"where a message's time goes ({len(processing)} messages)", hops)
    if processing:
        print(f"    messages in their process span at once, on average: {spans.mean_overlap(processing):.2f}")


def worker_rss(env: dict[str, str], stand_in_url: str, client_secret: str, forwarder: str, first: int) -> None:
    """Runs `forwarder` until it has forwarded `first`, then ten times `first` messages, reading its RSS at
    each. Messages are published as it goes, a few thousand ahead of it: with the whole run published up
    front, librdkafka's fetch queue would hold tens of megabytes of it early on and none at the end."""
    dsn = env["CRUNCAN_STORAGE__POSTGRES__DSN"]
    bootstrap_servers = env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"]
    topic = f"bench-rss-{uuid.uuid4().hex[:8]}"
    before = forwarded(dsn)
    published = len(publish(dsn, bootstrap_servers, topic, RSS_AHEAD))
    readings = []
    with started(forwarder_command(forwarder, env, stand_in_url, client_secret, topic), env, client_secret) as worker:
        began = time.perf_counter()
        for target in (first, first * 10):
            while (done := forwarded(dsn) - before) < target:
                if time.perf_counter() - began > RUN_TIMEOUT_S * 3:
                    raise RuntimeError(f"{forwarder} forwarded only {done} of {target} messages")
                if published - done < RSS_AHEAD and published < first * 10:
                    published += len(publish(dsn, bootstrap_servers, topic, min(PUBLISH_BATCH, first * 10 - published)))
                else:
                    time.sleep(0.1)
            readings.append((done, worker.rss_mb()))
    (few, small), (many, large) = readings
    verdict = "met" if abs(large / small - 1) <= 0.1 else "NOT met"
    print(
        f"\nworker RSS ({forwarder}, telemetry on): {small:.1f} MB after {few:,} messages, {large:.1f} MB after"
        f" {many:,}: {large / small - 1:+.1%} [goal within 10%: {verdict}]"
        f"  load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
