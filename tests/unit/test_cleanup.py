"""`CleanUp` on the in-memory store: what retention drops goes, in batches; nothing else is touched."""

from __future__ import annotations

from datetime import timedelta

from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from domain.model.idempotency import IdempotencyRecord
from domain.model.message import OutboxMessage
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from domain.model.retention import Removed, Retention
from domain.usecases.cleanup import CleanUp

DAY = timedelta(days=1)


def fill(store: InMemoryStore, clock: ManualClock) -> None:
    """At 10 days ago: 3 sent messages of forwarded requests, one unsent of an accepted request, and an
    expired key; now: one sent message of a forwarded request and a live key."""
    old, now = clock.now() - 10 * DAY, clock.now()
    for i, (status, sent) in enumerate([("forwarded", True)] * 3 + [("accepted", False)]):
        request_id = f"old{i}"
        store.requests[request_id] = StoredRequest(request_id, OneRequest("u", ""), RequestStatus(status), old, old)
        store.outbox[store.next_outbox_id()] = OutboxMessage(request_id, b"{}", old)
        if sent:
            store.sent[len(store.outbox)] = old
    store.requests["new"] = StoredRequest("new", OneRequest("u", ""), RequestStatus.FORWARDED, now, now)
    store.outbox[store.next_outbox_id()] = OutboxMessage("new", b"{}", now)
    store.sent[len(store.outbox)] = now
    store.unsent_ids.update(dict.fromkeys(i for i in store.outbox if i not in store.sent))
    store.idempotency_keys["gone"] = IdempotencyRecord("gone", "f", "old0", old, old + DAY)
    store.idempotency_keys["live"] = IdempotencyRecord("live", "f", "new", now, now + DAY)


def test_a_run_deletes_what_retention_drops_in_batches(store, clock) -> None:
    fill(store, clock)
    batches: list[Removed] = []

    removed = CleanUp(lambda: InMemoryUnitOfWork(store), clock, batch_size=2)(
        Retention(outbox=5 * DAY, requests=5 * DAY), batches.append
    )

    assert removed == Removed(outbox_messages=3, requests=3, idempotency_keys=0)
    assert batches == [Removed(2, 0, 0), Removed(1, 0, 0), Removed(0, 2, 0), Removed(0, 1, 0)]
    assert set(store.requests) == {"old3", "new"}
    assert store.unsent() == 1
    assert set(store.idempotency_keys) == {"live"}, "the key of a deleted request goes with it"


def test_off_keeps_everything_but_expired_keys(store, clock) -> None:
    fill(store, clock)
    store.idempotency_keys["gone"] = IdempotencyRecord("gone", "f", "new", clock.now() - 2 * DAY, clock.now() - DAY)
    cleanup = CleanUp(lambda: InMemoryUnitOfWork(store), clock)

    assert cleanup.preview(Retention(None, None)) == Removed(0, 0, 1)
    assert cleanup(Retention(None, None)) == Removed(0, 0, 1)
    assert len(store.requests) == 5
    assert len(store.outbox) == 5


def test_a_dry_run_counts_and_deletes_nothing(store, clock) -> None:
    fill(store, clock)

    counted = CleanUp(lambda: InMemoryUnitOfWork(store), clock).preview(Retention(5 * DAY, 5 * DAY))

    assert counted == Removed(outbox_messages=3, requests=3, idempotency_keys=1)
    assert len(store.requests) == 5
