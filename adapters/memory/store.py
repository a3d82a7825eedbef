from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from domain.model.errors import DuplicateRequest, IdempotencyKeyInUse, RedriveConflict
from domain.model.idempotency import IdempotencyRecord
from domain.model.message import OutboxMessage, PendingMessage
from domain.model.redrive import RedriveSelection, redrive_order
from domain.model.request import FINISHED, RequestStatus, StoredRequest
from ports.dead_letter_reader import RedrivenLetters
from ports.idempotency import IdempotencyKeys
from ports.messages import Origin
from ports.outbox import Outbox, OutboxSignal
from ports.repository import RequestRepository
from ports.unit_of_work import UnitOfWork


class InMemoryStore:
    """Committed state shared by every in-memory unit of work; thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: dict[str, StoredRequest] = {}
        self.outbox: dict[int, OutboxMessage] = {}
        self.sent: dict[int, datetime] = {}
        # The outbox IDs not sent yet, oldest first (IDs are given in order at commit): what the relay
        # reads, without going through every message ever sent.
        self.unsent_ids: dict[int, None] = {}
        self.claimed: set[int] = set()
        self.held_requests: set[str] = set()
        self.redriven_letters: dict[Origin, str | None] = {}
        self.held_letters: set[Origin] = set()
        self.messages_added = 0
        self.idempotency_keys: dict[str, IdempotencyRecord] = {}
        self.held_keys: dict[str, object] = {}
        self.new_messages = threading.Condition(self.lock)
        self._ids = itertools.count(1)

    def next_outbox_id(self) -> int:
        return next(self._ids)

    def unsent(self) -> int:
        with self.lock:
            return len(self.unsent_ids)


@dataclass(frozen=True)
class _Transition:
    status: RequestStatus
    at: datetime
    reason: str | None

    def apply(self, request: StoredRequest) -> StoredRequest | None:
        if not self.status.may_follow(request.status):
            return None
        return replace(request, status=self.status, updated_at=self.at, failure_reason=self.reason)


@dataclass
class _Changes:
    added: dict[str, StoredRequest] = field(default_factory=dict)
    transitions: list[tuple[str, _Transition]] = field(default_factory=list)
    messages: list[OutboxMessage] = field(default_factory=list)
    sent: dict[int, datetime] = field(default_factory=dict)
    claims: set[int] = field(default_factory=set)
    keys_held: set[str] = field(default_factory=set)
    keys_added: dict[str, IdempotencyRecord] = field(default_factory=dict)
    keys_purged: dict[str, datetime] = field(default_factory=dict)
    redriven: dict[str, StoredRequest] = field(default_factory=dict)
    requests_held: set[str] = field(default_factory=set)
    requests_deleted: set[str] = field(default_factory=set)
    messages_deleted: set[int] = field(default_factory=set)
    letters: dict[Origin, str | None] = field(default_factory=dict)

    def clear(self) -> None:
        for staged in (self.added, self.transitions, self.messages, self.sent, self.claims):
            staged.clear()
        for key_changes in (self.keys_held, self.keys_added, self.keys_purged):
            key_changes.clear()
        for removal in (self.redriven, self.requests_held, self.requests_deleted, self.messages_deleted):
            removal.clear()
        self.letters.clear()


class InMemoryRequestRepository(RequestRepository):
    def __init__(self, store: InMemoryStore, changes: _Changes) -> None:
        self._store = store
        self._changes = changes

    def add(self, request: StoredRequest) -> None:
        if request.request_id in self._changes.added:
            raise _duplicate(request.request_id)
        self._changes.added[request.request_id] = request

    def get(self, request_id: str) -> StoredRequest | None:
        with self._store.lock:
            current = (
                self._changes.redriven.get(request_id)
                or self._changes.added.get(request_id)
                or self._store.requests.get(request_id)
            )
        for target, transition in self._changes.transitions:
            if current is not None and target == request_id:
                current = transition.apply(current) or current
        return current

    def record_status(
        self, request_ids: Iterable[str], status: RequestStatus, at: datetime, reason: str | None = None
    ) -> int:
        transition = _Transition(status, at, reason)
        moved = 0
        for request_id in request_ids:
            current = self.get(request_id)
            if current is not None and transition.apply(current) is not None:
                self._changes.transitions.append((request_id, transition))
                moved += 1
        return moved

    def recent(self, limit: int) -> list[StoredRequest]:
        """The newest `limit` by creation time, chosen without reading every request in Python: a status
        change in this unit, which `get` applies, never moves a request's creation time."""
        with self._store.lock:
            visible = {**self._store.requests, **self._changes.added}
            newest = heapq.nlargest(max(limit, 0), visible.values(), key=_newest_first)
        return [request for chosen in newest if (request := self.get(chosen.request_id)) is not None]

    def failed(self, selection: RedriveSelection, limit: int) -> list[StoredRequest]:
        return self._matching(selection)[:limit]

    def redrive(self, selection: RedriveSelection, limit: int, at: datetime) -> list[StoredRequest]:
        with self._store.lock:
            free = [r for r in self._matching(selection) if r.request_id not in self._store.held_requests][:limit]
            moved = [request.redriven(at) for request in free]
            self._hold(request.request_id for request in moved)
            self._changes.redriven.update((request.request_id, request) for request in moved)
        return moved

    def count_finished_before(self, cutoff: datetime) -> int:
        return len(self._finished_before(cutoff))

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        with self._store.lock:
            chosen = [i for i in self._finished_before(cutoff) if i not in self._store.held_requests][:limit]
            self._hold(chosen)
            self._changes.requests_deleted.update(chosen)
        return len(chosen)

    def _matching(self, selection: RedriveSelection) -> list[StoredRequest]:
        with self._store.lock:
            ids = [*self._store.requests, *self._changes.added]
        found = (self.get(request_id) for request_id in ids if request_id not in self._changes.requests_deleted)
        return sorted((r for r in found if r is not None and selection.matches(r)), key=redrive_order)

    def _finished_before(self, cutoff: datetime) -> list[str]:
        with self._store.lock:
            unsent = {self._store.outbox[i].key for i in self._store.unsent_ids}
            return [
                request_id
                for request_id, request in sorted(self._store.requests.items())
                if request.status in FINISHED
                and request.created_at < cutoff
                and request_id not in unsent
                and request_id not in self._changes.requests_deleted
            ]

    def _hold(self, request_ids: Iterable[str]) -> None:
        held = set(request_ids)
        self._store.held_requests.update(held)
        self._changes.requests_held.update(held)


class InMemoryOutbox(Outbox):
    def __init__(self, store: InMemoryStore, changes: _Changes) -> None:
        self._store = store
        self._changes = changes

    def add(self, message: OutboxMessage) -> None:
        self._changes.messages.append(message)

    def claim_pending(self, limit: int) -> list[PendingMessage]:
        with self._store.lock:
            chosen = list(itertools.islice(self._oldest_free_of_each_key(), limit))
            self._store.claimed.update(chosen)
            self._changes.claims.update(chosen)
            return [PendingMessage(outbox_id, self._store.outbox[outbox_id]) for outbox_id in chosen]

    def _oldest_free_of_each_key(self) -> Iterator[int]:
        seen: set[str] = set()
        for outbox_id in self._store.unsent_ids:
            key = self._store.outbox[outbox_id].key
            if key in seen:
                continue
            seen.add(key)
            if outbox_id not in self._store.claimed:
                yield outbox_id

    def mark_sent(self, outbox_ids: Iterable[int], at: datetime) -> None:
        for outbox_id in outbox_ids:
            self._changes.sent[outbox_id] = at

    def count_sent_before(self, cutoff: datetime) -> int:
        return len(self._sent_before(cutoff))

    def delete_sent_before(self, cutoff: datetime, limit: int) -> int:
        with self._store.lock:
            chosen = [i for i in self._sent_before(cutoff) if i not in self._store.claimed][:limit]
            self._store.claimed.update(chosen)
            self._changes.claims.update(chosen)
            self._changes.messages_deleted.update(chosen)
        return len(chosen)

    def _sent_before(self, cutoff: datetime) -> list[int]:
        with self._store.lock:
            return sorted(
                outbox_id
                for outbox_id, sent_at in self._store.sent.items()
                if sent_at < cutoff and outbox_id not in self._changes.messages_deleted
            )

    def backlog(self) -> int:
        with self._store.lock:
            newly_sent = sum(1 for outbox_id in self._changes.sent if outbox_id not in self._store.sent)
            return self._store.unsent() + len(self._changes.messages) - newly_sent


class InMemoryIdempotencyKeys(IdempotencyKeys):
    """Keys staged per unit of work; a key claimed while absent or expired is held in the store until the unit ends."""

    def __init__(self, store: InMemoryStore, changes: _Changes) -> None:
        self._store = store
        self._changes = changes

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None:
        with self._store.lock:
            record = self._changes.keys_added.get(key) or _visible(self._store, self._changes, key)
            if record is not None and not record.expired(now):
                return record
            holder = self._store.held_keys.setdefault(key, self._changes)
            if holder is not self._changes:
                raise _in_use(key)
            self._changes.keys_held.add(key)
        if record is not None:
            self._changes.keys_purged[key] = now
        return None

    def add(self, record: IdempotencyRecord) -> None:
        if record.key in self._changes.keys_added:
            raise _in_use(record.key)
        self._changes.keys_added[record.key] = record

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        with self._store.lock:
            expired = self._expired(now)
            if limit is not None:
                free = [key for key in expired if self._store.held_keys.get(key, self._changes) is self._changes]
                expired = free[:limit]
                for key in expired:
                    self._store.held_keys[key] = self._changes
                    self._changes.keys_held.add(key)
        for key in expired:
            self._changes.keys_added.pop(key, None)
            self._changes.keys_purged[key] = now
        return len(expired)

    def count_expired(self, now: datetime) -> int:
        with self._store.lock:
            return len(self._expired(now))

    def _expired(self, now: datetime) -> list[str]:
        visible = {
            key: record
            for key in self._store.idempotency_keys
            if (record := _visible(self._store, self._changes, key)) is not None
        }
        visible.update(self._changes.keys_added)
        return sorted(key for key, record in visible.items() if record.expired(now))


class InMemoryRedrivenLetters(RedrivenLetters):
    """Positions staged per unit of work; a claimed position is held in the store until the unit ends."""

    def __init__(self, store: InMemoryStore, changes: _Changes) -> None:
        self._store = store
        self._changes = changes

    def claim(self, origin: Origin, request_id: str | None, at: datetime) -> bool:
        with self._store.lock:
            taken = origin in self._store.redriven_letters or origin in self._store.held_letters
            if taken:
                return False
            self._store.held_letters.add(origin)
            self._changes.letters[origin] = request_id
            return True


class InMemoryUnitOfWork(UnitOfWork):
    """Stages writes and applies them atomically on `commit()`; reads see staged writes."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._changes = _Changes()
        self.requests = InMemoryRequestRepository(store, self._changes)
        self.outbox = InMemoryOutbox(store, self._changes)
        self.idempotency_keys = InMemoryIdempotencyKeys(store, self._changes)
        self.redriven_letters = InMemoryRedrivenLetters(store, self._changes)
        self.committed = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        store, changes = self._store, self._changes
        with store.lock:
            clashes = sorted(request_id for request_id in changes.added if request_id in store.requests)
            if clashes:
                self._discard()
                raise _duplicate(clashes[0])
            key_clashes = sorted(key for key in changes.keys_added if _visible(store, changes, key))
            if key_clashes:
                self._discard()
                raise _in_use(key_clashes[0])
            stale = sorted(i for i, r in changes.redriven.items() if not _redrives(store.requests.get(i), r))
            if stale:
                self._discard()
                raise RedriveConflict(f"request {stale[0]} changed while it was being re-driven; nothing was kept")
            _apply(store, changes)
            if changes.messages:
                store.new_messages.notify_all()
        self.committed = True
        self._discard()

    def rollback(self) -> None:
        self._discard()

    def _discard(self) -> None:
        with self._store.lock:
            self._store.claimed.difference_update(self._changes.claims)
            self._store.held_requests.difference_update(self._changes.requests_held)
            self._store.held_letters.difference_update(self._changes.letters)
            for key in self._changes.keys_held:
                if self._store.held_keys.get(key) is self._changes:
                    del self._store.held_keys[key]
        self._changes.clear()


class InMemoryOutboxSignal(OutboxSignal):
    """Wakes relays when an in-memory unit of work commits outbox messages. The first `wait`
    returns at once if messages are already waiting, as a relay that just started needs to know."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._seen: int | None = None
        self._closed = False

    def wait(self, timeout: float) -> bool:
        with self._store.new_messages:
            if self._closed:
                return False
            if self._seen is None:
                self._seen = self._store.messages_added
                if self._store.unsent():
                    return True
            seen = self._seen
            self._store.new_messages.wait_for(lambda: self._closed or self._store.messages_added != seen, timeout)
            self._seen = self._store.messages_added
            return self._seen != seen and not self._closed

    def close(self) -> None:
        with self._store.new_messages:
            self._closed = True
            self._store.new_messages.notify_all()


def _visible(store: InMemoryStore, changes: _Changes, key: str) -> IdempotencyRecord | None:
    """The committed record of `key`, unless `changes` purge it."""
    record = store.idempotency_keys.get(key)
    purged_at = changes.keys_purged.get(key)
    if record is not None and purged_at is not None and record.expired(purged_at):
        return None
    return record


def _redrives(current: StoredRequest | None, redriven: StoredRequest) -> bool:
    return (
        current is not None
        and current.status is RequestStatus.FAILED
        and current.redrive_count == redriven.redrive_count - 1
    )


def _in_use(key: str) -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(f"another request holds the idempotency key ({len(key)} characters)")


def _apply(store: InMemoryStore, changes: _Changes) -> None:
    """Makes a unit's checked changes the store's committed state; the caller holds the store's lock."""
    store.requests.update(changes.redriven)
    store.redriven_letters.update(changes.letters)
    for request_id in changes.requests_deleted:
        store.requests.pop(request_id, None)
    if changes.requests_deleted:
        deleted = changes.requests_deleted
        for key in [k for k, r in store.idempotency_keys.items() if r.request_id in deleted]:
            del store.idempotency_keys[key]
    for outbox_id in changes.messages_deleted:
        store.outbox.pop(outbox_id, None)
        store.sent.pop(outbox_id, None)
        store.unsent_ids.pop(outbox_id, None)
    store.requests.update(changes.added)
    for key, purged_at in changes.keys_purged.items():
        if (record := store.idempotency_keys.get(key)) and record.expired(purged_at):
            del store.idempotency_keys[key]
    store.idempotency_keys.update(changes.keys_added)
    for request_id, transition in changes.transitions:
        current = store.requests.get(request_id)
        moved = current and transition.apply(current)
        if moved:
            store.requests[request_id] = moved
    for message in changes.messages:
        outbox_id = store.next_outbox_id()
        store.outbox[outbox_id] = message
        store.unsent_ids[outbox_id] = None
    store.messages_added += len(changes.messages)
    store.sent.update(changes.sent)
    for outbox_id in changes.sent:
        store.unsent_ids.pop(outbox_id, None)


def _newest_first(request: StoredRequest) -> tuple[datetime, str]:
    return request.created_at, request.request_id


def _duplicate(request_id: str) -> DuplicateRequest:
    return DuplicateRequest(f"duplicate: request {request_id} already exists")
