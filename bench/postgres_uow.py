"""Ingestions per second (insert a request, insert its outbox row, commit) through
`PeeweeUnitOfWork`, against bare psycopg2 doing the same inserts on the same database.

Variants, each with a connection per thread or a pool as large as the thread count:
- psycopg2 by hand: `with connection:` and two `execute` calls (BEGIN, INSERT, INSERT, COMMIT);
- psycopg2, one round trip: the four statements in one message, the floor for this work;
- PeeweeUnitOfWork: what cruncan runs;
- peewee pool + atomic(): peewee as its documentation shows it;
- peewee, connect per request: without a pool.

Runs on a temporary database that it creates, migrates and drops. The outbox trigger sends its
NOTIFY in every variant. Figures vary with the machine's load: variants take turns for several
rounds, and the median round is printed.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2
from peewee import PostgresqlDatabase
from playhouse.pool import PooledPostgresqlDatabase
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn
from psycopg2.extras import Json

from adapters.postgres.database import close_database, connect_database
from adapters.postgres.schema import migrate
from adapters.postgres.tables import OutboxRow, RequestRow
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from domain.model.message import OutboxMessage, RequestMessage
from domain.model.request import DataItem, OneRequest, RequestStatus, StoredRequest

BODY = OneRequest("bench-user", "hello", (DataItem("k", "v"),))
INSERT_REQUEST = (
    "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status) VALUES (%s, %s, %s, %s, %s, %s)"
)
INSERT_OUTBOX = "INSERT INTO outbox (key, payload, headers, created_at) VALUES (%s, %s, %s, %s)"

Ingest = Callable[[str], None]
Worker = Callable[[], AbstractContextManager[Ingest]]


@dataclass(frozen=True)
class Result:
    label: str
    ingestions: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.ingestions / self.seconds


def run(label: str, worker: Worker, threads: int, seconds: float) -> Result:
    """Each thread ingests back to back for `seconds`, after a short warm-up."""
    counts = [0] * threads
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    deadline: list[float] = []

    def ingest_until_deadline(index: int) -> None:
        with worker() as ingest:
            for i in range(20):
                ingest(f"warm-{uuid.uuid4().hex[:8]}-{index}-{i}")
            ready.wait()
            go.wait()
            prefix = f"{uuid.uuid4().hex[:8]}-{index}-"
            while time.perf_counter() < deadline[0]:
                ingest(f"{prefix}{counts[index]}")
                counts[index] += 1

    workers = [threading.Thread(target=ingest_until_deadline, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    deadline.append(started + seconds)
    go.set()
    for thread in workers:
        thread.join()
    return Result(label, sum(counts), time.perf_counter() - started)


def unit_of_work_worker(database: PooledPostgresqlDatabase) -> Worker:
    @contextmanager
    def worker() -> Iterator[Ingest]:
        def ingest(request_id: str) -> None:
            now = datetime.now(UTC)
            message = OutboxMessage(request_id, RequestMessage(request_id, BODY).encode(), now)
            with PeeweeUnitOfWork(database) as uow:
                uow.requests.add(StoredRequest(request_id, BODY, RequestStatus.ACCEPTED, now, now))
                uow.outbox.add(message)
                uow.commit()

        yield ingest

    return worker


def psycopg2_worker(dsn: str, *, one_round_trip: bool) -> Worker:
    """A connection per thread, as a hand-written service keeps one. By hand, psycopg2 sends
    BEGIN, each INSERT and COMMIT in turn; in one round trip, all four together."""

    @contextmanager
    def worker() -> Iterator[Ingest]:
        connection = psycopg2.connect(dsn)
        connection.autocommit = one_round_trip

        def ingest(request_id: str) -> None:
            now = datetime.now(UTC)
            payload = RequestMessage(request_id, BODY).encode()
            request = (request_id, BODY.user_id, now, now, Json(BODY.to_json()), RequestStatus.ACCEPTED.value)
            outbox = (request_id, payload, Json({}), now)
            if one_round_trip:
                connection.cursor().execute(f"BEGIN; {INSERT_REQUEST}; {INSERT_OUTBOX}; COMMIT", request + outbox)
                return
            with connection, connection.cursor() as cursor:
                cursor.execute(INSERT_REQUEST, request)
                cursor.execute(INSERT_OUTBOX, outbox)

        with closing(connection):
            yield ingest

    return worker


def plain_peewee_worker(database: PostgresqlDatabase) -> Worker:
    """peewee as its documentation shows it: a connection context per request, `atomic()` for
    the transaction, one round trip per statement (BEGIN, each INSERT, COMMIT)."""

    @contextmanager
    def worker() -> Iterator[Ingest]:
        def ingest(request_id: str) -> None:
            now = datetime.now(UTC)
            payload = RequestMessage(request_id, BODY).encode()
            with database.connection_context(), database.atomic():
                RequestRow.insert(
                    req_id=request_id,
                    user_id=BODY.user_id,
                    created_at=now,
                    updated_at=now,
                    req=BODY.to_json(),
                    status=RequestStatus.ACCEPTED.value,
                ).execute(database)
                OutboxRow.insert(key=request_id, payload=payload, headers={}, created_at=now).execute(database)

        yield ingest

    return worker


@contextmanager
def temporary_database(admin_dsn: str) -> Iterator[str]:
    name = f"cruncan_bench_{uuid.uuid4().hex[:12]}"
    with closing(psycopg2.connect(admin_dsn)) as admin:
        admin.autocommit = True
        admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_dsn(admin_dsn, dbname=name)
    finally:
        with closing(psycopg2.connect(admin_dsn)) as admin:
            admin.autocommit = True
            admin.cursor().execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--seconds", type=float, default=5.0, help="per variant and thread count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3, help="variants take turns; the median round counts")
    args = parser.parse_args()

    with temporary_database(args.admin_dsn) as dsn:
        migrate(dsn)
        for threads in args.threads:
            database = connect_database(
                dsn, pool_size=threads, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=5000
            )
            dbname = parse_dsn(dsn)["dbname"]
            pooled = PooledPostgresqlDatabase(dbname, dsn=dsn, max_connections=threads)
            unpooled = PostgresqlDatabase(dbname, dsn=dsn)
            variants: dict[str, Worker] = {
                "psycopg2 by hand": psycopg2_worker(dsn, one_round_trip=False),
                "psycopg2, one round trip": psycopg2_worker(dsn, one_round_trip=True),
                "PeeweeUnitOfWork": unit_of_work_worker(database),
                "peewee pool + atomic()": plain_peewee_worker(pooled),
                "peewee, connect per request": plain_peewee_worker(unpooled),
            }
            rounds = [
                [run(label, worker, threads, args.seconds) for label, worker in variants.items()]
                for _ in range(args.rounds)
            ]
            close_database(database)
            pooled.close_all()
            report(threads, args.seconds, [median(results) for results in zip(*rounds, strict=True)])


def median(results: tuple[Result, ...]) -> Result:
    return sorted(results, key=lambda result: result.per_second)[len(results) // 2]


def report(threads: int, seconds: float, results: list[Result]) -> None:
    baseline = results[0].per_second
    print(f"\n{threads} thread(s), median of rounds of {seconds:.0f} s; ratio = over psycopg2 by hand")
    for result in results:
        ratio = result.per_second / baseline
        print(f"  {result.label:<28} {result.per_second:8.0f} ingestions/s   ratio {ratio:5.2f}")


if __name__ == "__main__":
    main()
