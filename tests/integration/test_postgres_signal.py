"""The LISTEN connection of `PostgresOutboxSignal`: it survives losing its session, and says
so loudly when it cannot get one."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.signal import APPLICATION_NAME, PostgresOutboxSignal
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from domain.model.errors import StoreUnavailable
from domain.model.message import OutboxMessage
from harness.postgres import server_connections, terminate

pytestmark = pytest.mark.postgres

DEADLINE_S = 30.0


@pytest.fixture
def signal(clean_postgres: str) -> Iterator[PostgresOutboxSignal]:
    signal = PostgresOutboxSignal(clean_postgres)
    yield signal
    signal.close()


def commit_a_message(database: PooledPostgresqlDatabase) -> None:
    with PeeweeUnitOfWork(database) as uow:
        uow.outbox.add(OutboxMessage("m1", b"{}", datetime(2026, 3, 1, tzinfo=UTC)))
        uow.commit()


def test_no_connection_is_opened_before_the_first_wait(clean_postgres: str, signal: PostgresOutboxSignal) -> None:
    assert server_connections(clean_postgres, APPLICATION_NAME) == []

    assert signal.wait(0.01) is False
    assert len(server_connections(clean_postgres, APPLICATION_NAME)) == 1


def test_messages_committed_while_the_session_was_lost_are_reported_on_reconnecting(
    clean_postgres: str, database: PooledPostgresqlDatabase, signal: PostgresOutboxSignal
) -> None:
    assert signal.wait(0.01) is False
    lost = server_connections(clean_postgres, APPLICATION_NAME)
    terminate(lost)
    commit_a_message(database)

    assert signal.wait(DEADLINE_S) is True
    replacement = server_connections(clean_postgres, APPLICATION_NAME)
    assert len(replacement) == 1
    assert replacement != lost

    with ThreadPoolExecutor(1) as waiter:
        woken = waiter.submit(signal.wait, DEADLINE_S)
        commit_a_message(database)
        assert woken.result(timeout=DEADLINE_S) is True


def test_a_lost_session_with_nothing_waiting_is_replaced_quietly(
    clean_postgres: str, signal: PostgresOutboxSignal
) -> None:
    assert signal.wait(0.01) is False
    lost = server_connections(clean_postgres, APPLICATION_NAME)
    terminate(lost)

    assert signal.wait(0.3) is False
    assert server_connections(clean_postgres, APPLICATION_NAME) not in ([], lost)


def test_a_server_that_is_gone_raises_on_every_wait_and_close_still_works(unreachable_dsn: str) -> None:
    signal = PostgresOutboxSignal(unreachable_dsn)

    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            signal.wait(0.01)
    signal.close()
    assert signal.wait(0.01) is False
