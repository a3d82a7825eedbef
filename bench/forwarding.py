"""Forwarding throughput of `cruncan worker` on real Postgres + Kafka, against the demo's stand-in token API
and third party (no added latency, in a process of its own): one message at a time (concurrency 1),
then at the default concurrency, in one run, with their ratio.

Each run stores and publishes its messages first, then starts a worker and times it from its partition
assignment to the last request recorded as forwarded."""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from adapters.kafka.producer import KafkaPublisher
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from adapters.postgres.database import close_database, connect_database
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.system import SystemClock
from bench.load import ROOT
from bench.stack import real_stack
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.relay import RelayOutbox
from entrypoints.api.server import WaitressServer
from entrypoints.demo.stand_in import create_stand_in_app
from entrypoints.lifecycle import shutdown_requested, wait_for
from entrypoints.settings import load_settings
from harness.postgres import query

CLIENT_ID = "cruncan"
ASSIGNED = re.compile(r"assigned .*\[\d+\]")
PARTITIONS = 3


@dataclass(frozen=True)
class Run:
    concurrency: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def line(self) -> str:
        return (
            f"concurrency {self.concurrency:>3}   {self.messages:>6} messages in {self.seconds:6.2f} s"
            f"   {self.rate:8.1f} messages/s"
        )


def serve_stand_in(client_secret: str, threads: int, latency_ms: float) -> None:
    """Runs in its own process: the stand-ins on a free port, until SIGTERM."""
    clock = SystemClock()
    issuer = InMemoryTokenIssuer(clock)
    third_party = InMemoryThirdParty(issuer, latency_s=latency_ms / 1000)
    app = create_stand_in_app(issuer, third_party, clock, client_id=CLIENT_ID, client_secret=client_secret)
    server = WaitressServer(app, host="127.0.0.1", port=0, threads=threads)
    with shutdown_requested() as stop:
        server.start()
        print(server.url, flush=True)
        wait_for(stop)
        server.stop(5.0)


@contextmanager
def stand_in(client_secret: str, threads: int, latency_ms: float) -> Iterator[str]:
    command = [sys.executable, "-m", "bench.forwarding", "--serve-stand-in", "--stand-in-threads", str(threads)]
    process = subprocess.Popen(
        [*command, "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        env={**os.environ, "BENCH_CLIENT_SECRET": client_secret},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the stand-in did not start (exit status {process.poll()})")
        yield url
    finally:
        process.terminate()
        process.wait(30)


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


def timed_run(env: dict[str, str], stand_in_url: str, client_secret: str, concurrency: int, messages: int) -> Run:
    dsn = env["CRUNCAN_STORAGE__POSTGRES__DSN"]
    topic = f"bench-forwarding-{uuid.uuid4().hex[:8]}"
    publish(dsn, env["CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS"], topic, messages)
    target = forwarded(dsn) + messages
    settings = {
        "messaging.kafka.topic": topic,
        "messaging.kafka.partitions": str(PARTITIONS),
        "worker.group_id": f"{topic}-workers",
        "worker.concurrency": str(concurrency),
        "worker.session_timeout_ms": "3000",
        "worker.health.port": "0",
        "token.url": stand_in_url,
        "token.client_id": CLIENT_ID,
        "token.client_secret": client_secret,
        "third_party.url": stand_in_url,
    }
    command = [sys.executable, "-m", "entrypoints.cli", "worker"]
    command += [argument for key, value in settings.items() for argument in ("--set", f"{key}={value}")]
    worker = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if ASSIGNED.search(line):
                break
        else:
            raise RuntimeError(f"the worker exited with {worker.wait()} before it was assigned partitions")
        threading.Thread(target=worker.stdout.read, daemon=True).start()
        started = time.perf_counter()
        while forwarded(dsn) < target:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode} while forwarding")
            time.sleep(0.01)
        return Run(concurrency, messages, time.perf_counter() - started)
    finally:
        worker.terminate()
        worker.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the stand-in third party's response time")
    parser.add_argument("--stand-in-threads", type=int, default=16)
    parser.add_argument("--serve-stand-in", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stand_in:
        serve_stand_in(os.environ["BENCH_CLIENT_SECRET"], args.stand_in_threads, args.latency_ms)
        return
    default = int(load_settings(environ={}).worker.concurrency())
    client_secret = secrets.token_urlsafe(16)
    with real_stack() as env, stand_in(client_secret, args.stand_in_threads, args.latency_ms) as url:
        runs = [timed_run(env, url, client_secret, concurrency, args.messages) for concurrency in (1, default)]
    print(
        f"\n== forwarding on Postgres + Kafka to a local stand-in third party answering in {args.latency_ms:g} ms, "
        f"{args.messages} messages per run"
    )
    for run in runs:
        print(run.line())
    print(f"ratio concurrency {default} / concurrency 1: {runs[1].rate / runs[0].rate:.2f} (throughput)")


if __name__ == "__main__":
    main()
