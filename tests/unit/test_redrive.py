"""`RedriveFailed` on the in-memory store: batches, the outbox message each re-drive adds, and the lock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.clock import ManualClock
from adapters.memory.job_lock import InMemoryJobLock, InMemoryLocks
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from domain.model.errors import RedriveConflict
from domain.model.message import RequestMessage
from domain.model.redrive import REDRIVE_HEADER, RedriveSelection
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from domain.usecases.redrive import RedriveFailed


def failed(store: InMemoryStore, clock: ManualClock, *ids: str, reason: str = "third party answered 503") -> None:
    for request_id in ids:
        body = OneRequest(user_id="u", prompt=request_id)
        now = clock.now()
        store.requests[request_id] = StoredRequest(request_id, body, RequestStatus.FAILED, now, now, reason)


@pytest.fixture
def locks() -> InMemoryLocks:
    return InMemoryLocks()


def redriver(store: InMemoryStore, clock: ManualClock, locks: InMemoryLocks, **kwargs: object) -> RedriveFailed:
    lock = InMemoryJobLock(locks, "cruncan:redrive", 60, clock)
    return RedriveFailed(lambda: InMemoryUnitOfWork(store), clock, lock, **kwargs)  # type: ignore[arg-type]


def test_each_failed_request_gets_one_message_and_goes_back_to_accepted(store, clock, locks) -> None:
    failed(store, clock, "r1", "r2", "r3")
    progress: list[tuple[int, int]] = []

    done = redriver(store, clock, locks, batch_size=2)(RedriveSelection(), None, lambda b, t: progress.append((b, t)))

    assert (done.requests, done.batches, progress) == (3, 2, [(2, 2), (1, 3)])
    messages = sorted(store.outbox.values(), key=lambda m: m.key)
    assert [(m.key, dict(m.headers)) for m in messages] == [(f"r{i}", {REDRIVE_HEADER: "1"}) for i in (1, 2, 3)]
    assert messages[0].payload == RequestMessage("r1", OneRequest(user_id="u", prompt="r1")).encode()
    assert {r.status for r in store.requests.values()} == {RequestStatus.ACCEPTED}
    assert redriver(store, clock, locks)(RedriveSelection(), None).requests == 0


def test_the_limit_caps_a_run(store, clock, locks) -> None:
    failed(store, clock, *(f"r{i}" for i in range(5)))

    assert redriver(store, clock, locks, batch_size=2)(RedriveSelection(), 3).requests == 3
    assert len(store.outbox) == 3


def test_a_dry_run_changes_nothing(store, clock, locks) -> None:
    failed(store, clock, "r1", "r2")
    failed(store, clock, "r3", reason="refused")

    found = redriver(store, clock, locks).preview(RedriveSelection(cause="503"), 10)

    assert [r.request_id for r in found] == ["r1", "r2"]
    assert not store.outbox
    assert {r.status for r in store.requests.values()} == {RequestStatus.FAILED}


def test_a_run_finding_the_lock_held_does_nothing(store, clock, locks) -> None:
    failed(store, clock, "r1")
    holder = InMemoryJobLock(locks, "cruncan:redrive", 60, clock)
    holder.acquire()

    assert redriver(store, clock, locks)(RedriveSelection(), None).busy
    assert not store.outbox
    clock.advance(61)
    assert redriver(store, clock, locks)(RedriveSelection(), None).requests == 1


def test_a_request_that_changed_before_commit_is_not_redriven(store, clock, locks) -> None:
    failed(store, clock, "r1")

    def forwarded_meanwhile(_claimed: list[StoredRequest]) -> None:
        store.requests["r1"] = StoredRequest(
            "r1", OneRequest(user_id="u", prompt="r1"), RequestStatus.FORWARDED, clock.now(), clock.now()
        )

    with pytest.raises(RedriveConflict):
        redriver(store, clock, locks, before_commit=forwarded_meanwhile)(RedriveSelection(), None)
    assert not store.outbox
    assert store.requests["r1"].redrive_count == 0


def test_a_batch_size_below_one_is_refused(store, clock, locks) -> None:
    with pytest.raises(ValueError, match="at least one"):
        redriver(store, clock, locks, batch_size=0)


def test_the_in_memory_lock_is_held_by_one_holder_until_it_lapses(clock, locks) -> None:
    first = InMemoryJobLock(locks, "job", 10, clock)
    second = InMemoryJobLock(locks, "job", 10, clock)

    assert (first.acquire(), second.acquire()) == ("held", "busy")
    second.release()
    assert second.acquire() == "busy"
    clock.advance(11)
    assert (first.renew(), second.acquire(), first.acquire()) == ("busy", "held", "busy")
    first.release()
    assert second.renew() == "held"
    clock.advance(timedelta(seconds=5).total_seconds())
    assert second.renew() == "held"
