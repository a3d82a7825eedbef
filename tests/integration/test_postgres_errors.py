"""Whatever goes wrong with Postgres reaches the core as a domain error, never as a driver's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg2
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.database import APPLICATION_NAME, close_database, connect_database
from adapters.postgres.errors import translated_errors
from adapters.postgres.probe import PostgresProbe
from adapters.postgres.schema import migrate, schema_status
from adapters.postgres.signal import PostgresOutboxSignal
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from domain.model.errors import CruncanError, StoreUnavailable
from domain.model.message import OutboxMessage
from domain.model.request import DataItem, OneRequest, RequestStatus, StoredRequest
from harness.postgres import server_connections, terminate

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def a_request(request_id: str) -> StoredRequest:
    return StoredRequest(request_id, OneRequest("u", "p", (DataItem("k", "v"),)), RequestStatus.ACCEPTED, NOW, NOW)


def ingest(uow: PeeweeUnitOfWork, request_id: str) -> None:
    with uow:
        uow.requests.add(a_request(request_id))
        uow.outbox.add(OutboxMessage(request_id, b"{}", NOW))
        uow.commit()


def pool(dsn: str, pool_size: int = 4, statement_timeout_ms: int = 5000) -> PooledPostgresqlDatabase:
    return connect_database(
        dsn, pool_size=pool_size, connect_timeout_s=1, stale_timeout_s=300, statement_timeout_ms=statement_timeout_ms
    )


def on_another_thread(work: Callable[[], object]) -> object:
    """Runs `work` on a thread of its own: peewee lends each thread one connection."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(work).result(timeout=30)


def in_unit(work: Callable[[PeeweeUnitOfWork], object]) -> Callable[[PooledPostgresqlDatabase, str], object]:
    def call(database: PooledPostgresqlDatabase, dsn: str) -> object:
        with PeeweeUnitOfWork(database) as uow:
            return work(uow)

    return call


def wait_once(signal: PostgresOutboxSignal) -> bool:
    try:
        return signal.wait(1)
    finally:
        signal.close()


UNREACHABLE: dict[str, Callable[[PooledPostgresqlDatabase, str], object]] = {
    "ingest": lambda database, dsn: ingest(PeeweeUnitOfWork(database), "r1"),
    "get": in_unit(lambda uow: uow.requests.get("r1")),
    "record_status": in_unit(lambda uow: uow.requests.record_status(["r1"], RequestStatus.PUBLISHED, NOW)),
    "claim_pending": in_unit(lambda uow: uow.outbox.claim_pending(10)),
    "backlog": in_unit(lambda uow: uow.outbox.backlog()),
    "probe": lambda database, dsn: PostgresProbe(database).check(),
    "signal": lambda database, dsn: wait_once(PostgresOutboxSignal(dsn)),
    "migrate": lambda database, dsn: migrate(dsn),
    "schema_status": lambda database, dsn: schema_status(dsn),
}


@pytest.mark.parametrize("call", UNREACHABLE.values(), ids=UNREACHABLE.keys())
def test_an_unreachable_server_is_store_unavailable(
    unreachable_dsn: str, call: Callable[[PooledPostgresqlDatabase, str], object]
) -> None:
    database = pool(unreachable_dsn)

    with pytest.raises(StoreUnavailable):
        call(database, unreachable_dsn)
    close_database(database)


def test_a_unit_of_work_that_never_reached_the_server_exits_quietly(unreachable_dsn: str) -> None:
    database = pool(unreachable_dsn)
    with PeeweeUnitOfWork(database) as uow:
        with pytest.raises(StoreUnavailable):
            uow.requests.add(a_request("r1"))
        with pytest.raises(StoreUnavailable):
            uow.requests.get("r1")


def test_an_exhausted_pool_is_store_unavailable_until_a_connection_comes_back(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=1)
    with PeeweeUnitOfWork(database) as holder:
        assert holder.requests.get("r1") is None
        with pytest.raises(StoreUnavailable, match="busy"):
            on_another_thread(lambda: in_unit(lambda starved: starved.outbox.backlog())(database, clean_postgres))
    on_another_thread(lambda: ingest(PeeweeUnitOfWork(database), "r1"))
    close_database(database)


def test_a_statement_stuck_past_the_timeout_is_store_unavailable(clean_postgres: str) -> None:
    database = pool(clean_postgres, statement_timeout_ms=200)
    ingest(PeeweeUnitOfWork(database), "r1")

    with PeeweeUnitOfWork(database) as holder:
        assert holder.requests.record_status(["r1"], RequestStatus.PUBLISHED, NOW) == 1
        with pytest.raises(StoreUnavailable, match="timed out"):
            on_another_thread(
                lambda: in_unit(
                    lambda blocked: blocked.requests.record_status(["r1"], RequestStatus.FAILED, NOW, reason="stuck")
                )(database, clean_postgres)
            )
        holder.commit()

    with PeeweeUnitOfWork(database) as uow:
        assert uow.requests.get("r1").status == RequestStatus.PUBLISHED  # type: ignore[union-attr]
    close_database(database)


def test_an_unmigrated_database_is_store_unavailable_with_the_way_out(empty_database: Callable[[], str]) -> None:
    database = pool(empty_database())

    with pytest.raises(StoreUnavailable, match="cruncan migrate"):
        ingest(PeeweeUnitOfWork(database), "r1")
    with pytest.raises(StoreUnavailable, match=r"0001\.request.*cruncan migrate"):
        PostgresProbe(database).check()
    close_database(database)


def test_a_connection_the_server_dropped_while_lent_fails_once_and_is_not_lent_again(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=1)
    ingest(PeeweeUnitOfWork(database), "r1")

    with PeeweeUnitOfWork(database) as uow:
        assert uow.requests.get("r2") is None
        terminate(server_connections(clean_postgres, APPLICATION_NAME))
        with pytest.raises(StoreUnavailable):
            uow.requests.add(a_request("r2"))
    ingest(PeeweeUnitOfWork(database), "r3")

    with PeeweeUnitOfWork(database) as uow:
        assert [uow.requests.get(r) is not None for r in ("r1", "r2", "r3")] == [True, False, True]
    close_database(database)


def test_an_idle_connection_the_server_closed_is_replaced_at_its_first_statement(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=1)
    ingest(PeeweeUnitOfWork(database), "r1")
    terminate(server_connections(clean_postgres, APPLICATION_NAME))

    ingest(PeeweeUnitOfWork(database), "r2")
    terminate(server_connections(clean_postgres, APPLICATION_NAME))
    with PeeweeUnitOfWork(database) as uow:
        assert uow.requests.get("r2") is not None
    close_database(database)


def test_after_a_server_restart_every_idle_connection_is_replaced_at_once(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=3)
    held = threading.Barrier(3)

    def hold_a_connection() -> None:
        with PeeweeUnitOfWork(database) as uow:
            uow.requests.get("r0")
            held.wait(timeout=10)

    with ThreadPoolExecutor(3) as threads:
        for future in [threads.submit(hold_a_connection) for _ in range(3)]:
            future.result(timeout=30)
    assert len(server_connections(clean_postgres, APPLICATION_NAME)) == 3
    terminate(server_connections(clean_postgres, APPLICATION_NAME))

    ingest(PeeweeUnitOfWork(database), "r1")
    PostgresProbe(database).check()
    assert len(server_connections(clean_postgres, APPLICATION_NAME)) == 1
    close_database(database)


def test_the_probe_replaces_an_idle_connection_the_server_closed(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=1)
    PostgresProbe(database).check()
    terminate(server_connections(clean_postgres, APPLICATION_NAME))

    PostgresProbe(database).check()
    close_database(database)


def test_a_row_the_schema_refuses_is_named_by_its_rule_never_by_its_contents(clean_postgres: str) -> None:
    connection = psycopg2.connect(clean_postgres)
    try:
        with pytest.raises(CruncanError) as refused, translated_errors(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status)"
                " VALUES ('r1', 'u1', now(), now(), %s, 'lost')",
                ('{"prompt": "a private prompt"}',),
            )
    finally:
        connection.close()

    assert "request_status_known" in str(refused.value)
    assert "private prompt" not in str(refused.value)
