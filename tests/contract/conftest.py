"""The `backend` fixture: every store contract runs once on the in-memory adapters and once on
Postgres, with the same assertions, so the fakes stay honest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from playhouse.pool import PooledPostgresqlDatabase

from adapters.memory.store import InMemoryOutboxSignal, InMemoryStore, InMemoryUnitOfWork
from adapters.postgres.signal import PostgresOutboxSignal
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from ports.outbox import OutboxSignal
from ports.unit_of_work import UnitOfWork


@dataclass
class Backend:
    name: str
    unit_of_work: Callable[[], UnitOfWork]
    new_signal: Callable[[], OutboxSignal]
    opened: list[OutboxSignal] = field(default_factory=list)

    def signal(self) -> OutboxSignal:
        """A new signal, as a newly started relay opens it; closed after the test."""
        signal = self.new_signal()
        self.opened.append(signal)
        return signal


def memory_backend() -> Backend:
    store = InMemoryStore()
    return Backend("memory", lambda: InMemoryUnitOfWork(store), lambda: InMemoryOutboxSignal(store))


def postgres_backend(database: PooledPostgresqlDatabase, dsn: str) -> Backend:
    return Backend("postgres", lambda: PeeweeUnitOfWork(database), lambda: PostgresOutboxSignal(dsn))


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        chosen = memory_backend()
    else:
        chosen = postgres_backend(request.getfixturevalue("database"), request.getfixturevalue("clean_postgres"))
    yield chosen
    for signal in chosen.opened:
        signal.close()


T = TypeVar("T")


def on_another_thread(work: Callable[[], T]) -> T:
    """Runs `work` on a thread of its own, as another thread of the service would: units of work
    open at the same time belong to different threads (peewee lends each thread one connection)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(work).result(timeout=30)
