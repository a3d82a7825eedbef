"""The pool opens connections lazily, lends each unit of work its own, and reuses them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.database import APPLICATION_NAME, close_database, connect_database
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from domain.model.message import OutboxMessage
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from harness.postgres import query, server_connections

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def pool(dsn: str, pool_size: int) -> PooledPostgresqlDatabase:
    return connect_database(
        dsn, pool_size=pool_size, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=5000
    )


def ingest(database: PooledPostgresqlDatabase, request_id: str) -> None:
    with PeeweeUnitOfWork(database) as uow:
        uow.requests.add(StoredRequest(request_id, OneRequest("u", "p"), RequestStatus.ACCEPTED, NOW, NOW))
        uow.outbox.add(OutboxMessage(request_id, b"{}", NOW))
        uow.commit()


def backlog(database: PooledPostgresqlDatabase) -> int:
    with PeeweeUnitOfWork(database) as uow:
        return uow.outbox.backlog()


def test_no_connection_is_opened_until_a_unit_of_work_sends_a_statement(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=4)
    with PeeweeUnitOfWork(database) as uow:
        assert server_connections(clean_postgres, APPLICATION_NAME) == []
        uow.requests.add(StoredRequest("r1", OneRequest("u", "p"), RequestStatus.ACCEPTED, NOW, NOW))
        assert len(server_connections(clean_postgres, APPLICATION_NAME)) == 1

    close_database(database)
    assert server_connections(clean_postgres, APPLICATION_NAME) == []


def test_units_of_work_in_turn_reuse_one_connection(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=4)

    for i in range(20):
        ingest(database, f"r{i}")

    assert backlog(database) == 20
    assert len(server_connections(clean_postgres, APPLICATION_NAME)) == 1
    close_database(database)
    assert server_connections(clean_postgres, APPLICATION_NAME) == []


def test_units_of_work_at_once_on_two_threads_hold_a_connection_each(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=4)
    with PeeweeUnitOfWork(database) as first:
        first.outbox.backlog()
        with ThreadPoolExecutor(1) as other:
            other.submit(backlog_while_counting, database, clean_postgres).result(timeout=30)
    close_database(database)


def backlog_while_counting(database: PooledPostgresqlDatabase, dsn: str) -> None:
    with PeeweeUnitOfWork(database) as second:
        second.outbox.backlog()
        assert len(server_connections(dsn, APPLICATION_NAME)) == 2


def test_a_second_unit_of_work_on_one_thread_is_refused_while_the_first_holds_the_connection(
    clean_postgres: str,
) -> None:
    database = pool(clean_postgres, pool_size=4)
    with PeeweeUnitOfWork(database) as first:
        first.outbox.backlog()
        with pytest.raises(RuntimeError, match="one unit of work at a time"), PeeweeUnitOfWork(database) as second:
            second.outbox.backlog()
        assert first.outbox.backlog() == 0
    close_database(database)


def test_an_idle_connection_is_lent_again_without_a_round_trip(clean_postgres: str) -> None:
    """peewee's own pool sends `SELECT 1` before lending an idle connection; `PostgresPool` does not
    (this fails if a peewee upgrade stops asking `PostgresPool._is_closed`)."""
    database = pool(clean_postgres, pool_size=1)
    assert backlog(database) == 0

    for _ in range(3):
        with database.connection_context():
            pass

    [(last_statement,)] = query(
        clean_postgres,
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
        APPLICATION_NAME,
    )
    assert "outbox" in last_statement, f"the server last ran {last_statement!r}, not the backlog's count"
    close_database(database)


def test_more_threads_than_connections_share_the_pool(clean_postgres: str) -> None:
    database = pool(clean_postgres, pool_size=3)

    with ThreadPoolExecutor(8) as threads:
        for future in [threads.submit(ingest, database, f"r{i}") for i in range(200)]:
            future.result(timeout=60)

    assert backlog(database) == 200
    assert 1 <= len(server_connections(clean_postgres, APPLICATION_NAME)) <= 3
    close_database(database)


def test_connections_run_in_utc_with_the_statement_timeout(clean_postgres: str) -> None:
    database = connect_database(
        clean_postgres, pool_size=1, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=1234
    )
    with database.connection_context():
        cursor = database.execute_sql("SELECT current_setting('TimeZone'), current_setting('statement_timeout')")
        assert cursor.fetchone() == ("UTC", "1234ms")
    close_database(database)


def open_pool(dsn: str) -> PooledPostgresqlDatabase:
    return connect_database(dsn, pool_size=1, connect_timeout_s=1, stale_timeout_s=1, statement_timeout_ms=1)


def test_a_dsn_without_a_database_is_refused_at_once_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="must name a database") as refused:
        open_pool("host=127.0.0.1 user=postgres password=hunter2")

    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("dsn", ["postgresql://postgres@127.0.0.1:5432/cruncan?nonsense=1", "host"])
def test_a_malformed_dsn_is_refused_at_once(dsn: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        open_pool(dsn)
