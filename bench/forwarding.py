"""Forwarding throughput of `cruncan worker` on real Postgres + Kafka (Tansu), telemetry on (every trace
sampled, OTLP to a receiver that discards), at concurrency 1 and at the default, against a bare
hand-written loop (`bench/bare_forwarder.py`: consume, cached token, urllib3 POST, one UPDATE, commit),
each against the demo's stand-in token API and third party in a process of its own, answering in 0 ms
and in 20 ms. The three take turns for several rounds and the median counts.

Each run stores and publishes its messages to a topic of its own first, then starts the forwarder and
times it from its partition assignment to the last request recorded as forwarded."""

from __future__ import annotations

import argparse
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
from contextlib import contextmanager
from dataclasses import dataclass

from adapters.kafka.producer import KafkaPublisher
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from adapters.postgres.database import close_database, connect_database
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.system import SystemClock
from bench.load import ROOT
from bench.otlp_sink import NullOtlpSink
from bench.stack import real_stack
from domain.model.message import ThreeRequest
from domain.model.token import AccessToken
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.relay import RelayOutbox
from entrypoints.api.server import WaitressServer
from entrypoints.demo.stand_in import create_stand_in_app
from entrypoints.lifecycle import shutdown_requested, wait_for
from entrypoints.settings import load_settings
from harness.postgres import query

CLIENT_ID = "cruncan"
ASSIGNED = re.compile(r"assigned .*\[\d+\]|^assigned$")
PARTITIONS = 3


@dataclass(frozen=True)
class Run:
    forwarder: str
    messages: int
    seconds: float
    load_average: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


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


def publish(dsn: str, bootstrap_servers: str, topic: str, messages: int) -> None:
    """Stores `messages` requests and relays them to `topic`, as the API would."""
    clock = SystemClock()
    database = connect_database(dsn, pool_size=2, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=10_000)
    publisher = KafkaPublisher(
        bootstrap_servers,
        topic,
        partitions=PARTITIONS,
        replication_factor=1,
        linger_ms=5,
        delivery_timeout_ms=30_000,
        request_timeout_ms=10_000,
    )
    try:
        ingest = IngestRequest(lambda: PeeweeUnitOfWork(database), SnowflakeIdGenerator(clock, node=9), clock)
        for n in range(messages):
            ingest({"user_id": f"bench-{n % 50}", "prompt": "forward me", "data": [{"key": "k", "value": "v"}]})
        relay = RelayOutbox(lambda: PeeweeUnitOfWork(database), publisher, clock, batch_size=500)
        while (relayed := relay()).claimed:
            if relayed.undelivered:
                raise RuntimeError(f"the relay could not publish: {relayed}")
    finally:
        publisher.close(timeout_s=10)
        close_database(database)


def forwarded(dsn: str) -> int:
    [(count,)] = query(dsn, "SELECT count(*) FROM request WHERE status = 'forwarded'")
    return int(count)


def timed_run(env: dict[str, str], stand_in_url: str, client_secret: str, forwarder: str, messages: int) -> Run:
    """Publishes `messages` to a new topic, starts `forwarder` (`cruncan N` or `bare`) on it, times it."""
    dsn = env["CRUNCAN_STORAGE__POSTGRES__DSN"]
    bootstrap_servers = env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"]
    topic = f"bench-forwarding-{uuid.uuid4().hex[:8]}"
    publish(dsn, bootstrap_servers, topic, messages)
    target = forwarded(dsn) + messages
    if forwarder == "bare":
        command = [sys.executable, "-m", "bench.bare_forwarder", "--dsn", dsn, "--bootstrap-servers", bootstrap_servers]
        command += ["--topic", topic, "--group", f"{topic}-bare", "--url", stand_in_url, "--client-id", CLIENT_ID]
    else:
        settings = {
            "messaging.kafka.topic": topic,
            "messaging.kafka.partitions": str(PARTITIONS),
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
        command += [argument for key, value in settings.items() for argument in ("--set", f"{key}={value}")]
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
            raise RuntimeError(f"{forwarder} exited with {worker.wait()} before it was assigned partitions")
        threading.Thread(target=worker.stdout.read, daemon=True).start()
        started = time.perf_counter()
        while forwarded(dsn) < target:
            if worker.poll() is not None:
                raise RuntimeError(f"{forwarder} exited with {worker.returncode} while forwarding")
            time.sleep(0.01)
        return Run(forwarder, messages, time.perf_counter() - started, os.getloadavg()[0])
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (a quarter at 20 ms)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round, 500 messages")
    parser.add_argument("--latency-ms", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--stand-in-threads", type=int, default=16)
    parser.add_argument("--serve-stand-in", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stand_in:
        serve_stand_in(os.environ["BENCH_CLIENT_SECRET"], args.stand_in_threads, args.latency_ms)
        return
    if args.quick:
        args.rounds, args.messages = 1, 500
        print("QUICK MODE: fewer rounds and shorter runs than the figures issue 9 asks for", flush=True)
    default = int(load_settings(environ={}).worker.concurrency())
    forwarders = ["cruncan 1", f"cruncan {default}", "bare"]
    client_secret = secrets.token_urlsafe(16)
    with real_stack() as stack, NullOtlpSink().running() as sink:
        env = {**stack, "OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
        for latency_ms, messages in ((0.0, args.messages), (20.0, max(args.messages // 4, 100))):
            runs: list[Run] = []
            with stand_in(client_secret, args.stand_in_threads, latency_ms) as url:
                for round_number in range(args.rounds):
                    for forwarder in forwarders if round_number % 2 == 0 else forwarders[::-1]:
                        runs.append(timed_run(env, url, client_secret, forwarder, messages))
                        print(
                            f"round {round_number + 1} {latency_ms:g} ms {forwarder:<10} {runs[-1].rate:7.1f} msg/s"
                            f"  load {runs[-1].load_average:.1f}",
                            flush=True,
                        )
            report(latency_ms, messages, args.rounds, forwarders, runs, default)


def report(latency_ms: float, messages: int, rounds: int, forwarders: list[str], runs: list[Run], default: int) -> None:
    print(f"\n== forwarding, third party answering in {latency_ms:g} ms, {messages} messages, median of {rounds}")
    rate = {}
    for forwarder in forwarders:
        mine = [run for run in runs if run.forwarder == forwarder]
        rate[forwarder] = statistics.median(run.rate for run in mine)
        load = statistics.median(run.load_average for run in mine)
        label = f"{forwarder} (telemetry on)" if forwarder != "bare" else "bare loop"
        print(f"  {label:<28} {rate[forwarder]:8.1f} messages/s  load {load:.1f}")
    one, many, bare = rate["cruncan 1"], rate[f"cruncan {default}"], rate["bare"]
    print(
        f"  cruncan concurrency 1 / bare loop: {one / bare:.2f}  [goal ≥ 1.00: {'met' if one >= bare else 'NOT met'}]"
    )
    print(f"  cruncan concurrency {default} / bare loop: {many / bare:.2f}")
    if latency_ms == 20.0:
        ideal = default / 0.020
        verdict = "met" if many >= 0.8 * ideal else "NOT met"
        print(
            f"  cruncan concurrency {default} / ideal {ideal:.0f} msg/s: {many / ideal:.2f}  [goal ≥ 0.80: {verdict}]"
        )


if __name__ == "__main__":
    main()
