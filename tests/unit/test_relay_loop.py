"""The long-running relay (`RelayLoop`) on the in-memory store, signal and broker."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pytest

from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryOutboxSignal, InMemoryStore, InMemoryUnitOfWork
from domain.model.errors import StoreUnavailable
from domain.model.message import OutboxMessage, PendingMessage
from domain.model.request import RequestStatus
from domain.model.retry import RetryPolicy
from domain.usecases.relay import RelayOutbox
from ports.outbox import OutboxSignal
from ports.publisher import Publisher
from ports.unit_of_work import UnitOfWork
from runtime.relay import RelayLoop

TOPIC = "one-request"
BODY = {"user_id": "user-1", "prompt": "hello"}
LONG_S = 600.0
STOP_WITHIN_S = 10.0


class FailingFirst(Publisher):
    """Delivers nothing for the first `failures` batches (a broker that is down), then publishes."""

    def __init__(self, inner: Publisher, failures: int, raising: bool = False) -> None:
        self._inner = inner
        self._failures = failures
        self._raising = raising
        self.attempts = 0

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        self.attempts += 1
        if self.attempts <= self._failures:
            if self._raising:
                raise ConnectionError("broker client crashed")
            return set()
        return self._inner.publish(messages)


class HeldPublisher(Publisher):
    """Blocks inside `publish` until released, reporting when a batch has entered."""

    def __init__(self, inner: Publisher) -> None:
        self._inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        self.entered.set()
        assert self.release.wait(timeout=30), "the test never released the publisher"
        return self._inner.publish(messages)


class BrokenSignal(OutboxSignal):
    def wait(self, timeout: float) -> bool:
        raise ConnectionError("lost the notification connection")

    def close(self) -> None:
        return None


@pytest.fixture
def signal(store):
    signal = InMemoryOutboxSignal(store)
    yield signal
    signal.close()


def relay_with(store, publisher, clock, batch_size=100, uow=None):
    return RelayOutbox(uow or (lambda: InMemoryUnitOfWork(store)), publisher, clock, batch_size=batch_size)


@contextmanager
def running(loop: RelayLoop) -> Iterator[threading.Thread]:
    """Runs the loop in a thread; on exit stops it and fails the test unless it ends promptly."""
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), name="relay", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=STOP_WITHIN_S)
    assert not thread.is_alive(), f"the relay loop did not stop within {STOP_WITHIN_S} s"


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting until {what}")
        time.sleep(0.005)


def published(store, request_id: str) -> Callable[[], bool]:
    return lambda: store.requests[request_id].status is RequestStatus.PUBLISHED


def backlog(store) -> int:
    return InMemoryUnitOfWork(store).outbox.backlog()


def test_a_commit_wakes_the_relay_without_waiting_for_the_poll_interval(store, broker, clock, signal, ingest):
    loop = RelayLoop(
        relay_with(store, InMemoryPublisher(broker, TOPIC), clock), signal, LONG_S, retry=RetryPolicy(0.01, 0.01)
    )

    with running(loop):
        for _ in range(3):
            eventually(published(store, ingest(BODY)), "the request is published")

    assert len(broker.records(TOPIC)) == 3


def test_full_batches_are_relayed_back_to_back(store, broker, clock, signal, ingest):
    for _ in range(35):
        ingest(BODY)
    assert signal.wait(0)  # the signal has reported these commits: only the loop itself can go on
    loop = RelayLoop(
        relay_with(store, InMemoryPublisher(broker, TOPIC), clock, batch_size=10),
        signal,
        LONG_S,
        retry=RetryPolicy(0.01, 0.01),
    )

    with running(loop):
        eventually(lambda: backlog(store) == 0, "four passes drained the outbox")

    assert len(broker.records(TOPIC)) == 35


def test_undelivered_messages_are_retried_until_published(store, broker, clock, signal, ingest):
    ids = [ingest(BODY) for _ in range(3)]
    publisher = FailingFirst(InMemoryPublisher(broker, TOPIC), failures=3)
    loop = RelayLoop(relay_with(store, publisher, clock), signal, LONG_S, retry=RetryPolicy(0.001, 0.001))

    with running(loop):
        eventually(lambda: backlog(store) == 0, "the outbox is drained")

    assert publisher.attempts == 4
    assert sorted(record.key for record in broker.records(TOPIC)) == sorted(ids)
    assert {store.requests[i].status for i in ids} == {RequestStatus.PUBLISHED}


def test_a_publisher_that_raises_does_not_end_the_loop(store, broker, clock, signal, ingest):
    request_id = ingest(BODY)
    publisher = FailingFirst(InMemoryPublisher(broker, TOPIC), failures=2, raising=True)
    loop = RelayLoop(relay_with(store, publisher, clock), signal, LONG_S, retry=RetryPolicy(0.001, 0.001))

    with running(loop):
        eventually(published(store, request_id), "the request is published")

    assert publisher.attempts == 3


def test_a_store_that_is_down_does_not_end_the_loop(store, broker, clock, signal, ingest):
    request_id = ingest(BODY)
    outages = iter(range(3))

    def unit_of_work() -> UnitOfWork:
        if next(outages, None) is not None:
            raise StoreUnavailable("database is down")
        return InMemoryUnitOfWork(store)

    relay = relay_with(store, InMemoryPublisher(broker, TOPIC), clock, uow=unit_of_work)
    loop = RelayLoop(relay, signal, LONG_S, retry=RetryPolicy(0.001, 0.001))

    with running(loop):
        eventually(published(store, request_id), "the request is published")


def test_a_broken_signal_falls_back_to_polling(store, broker, clock, ingest):
    loop = RelayLoop(
        relay_with(store, InMemoryPublisher(broker, TOPIC), clock), BrokenSignal(), 0.01, retry=RetryPolicy(0.01, 0.01)
    )

    with running(loop):
        request_id = ingest(BODY)
        eventually(published(store, request_id), "the request is published")


def test_stopping_finishes_the_pass_in_flight_first(store, broker, clock, signal, ingest):
    request_id = ingest(BODY)
    publisher = HeldPublisher(InMemoryPublisher(broker, TOPIC))
    loop = RelayLoop(relay_with(store, publisher, clock), signal, LONG_S, retry=RetryPolicy(LONG_S, LONG_S))
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    assert publisher.entered.wait(timeout=10)

    stop.set()
    publisher.release.set()
    thread.join(timeout=STOP_WITHIN_S)

    assert not thread.is_alive()
    assert store.requests[request_id].status is RequestStatus.PUBLISHED
    assert backlog(store) == 0


def test_stopping_cuts_a_backoff_short(store, broker, clock, signal, ingest):
    ingest(BODY)
    publisher = FailingFirst(InMemoryPublisher(broker, TOPIC), failures=1)
    loop = RelayLoop(relay_with(store, publisher, clock), signal, LONG_S, retry=RetryPolicy(LONG_S, LONG_S))

    with running(loop):
        eventually(lambda: publisher.attempts == 1, "the first pass failed")

    assert backlog(store) == 1


def test_stopping_cuts_an_idle_wait_short(store, broker, clock, signal):
    loop = RelayLoop(
        relay_with(store, InMemoryPublisher(broker, TOPIC), clock), signal, LONG_S, retry=RetryPolicy(0.01, 0.01)
    )

    with running(loop):
        assert not signal.wait(0.05)  # idle: nothing committed


@pytest.mark.parametrize(
    ("base", "cap", "expected"),
    [(0.5, 4.0, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]), (1.0, 30.0, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0])],
)
def test_the_backoff_doubles_up_to_its_cap(store, broker, clock, signal, base, cap, expected):
    loop = RelayLoop(
        relay_with(store, InMemoryPublisher(broker, TOPIC), clock), signal, 1.0, retry=RetryPolicy(base, cap)
    )

    assert [loop.backoff(failures) for failures in range(1, 7)] == expected
    assert loop.backoff(10_000) == cap


def test_two_relays_running_at_once_publish_every_message_exactly_once(store, broker, clock, signal, ingest):
    loops = [
        RelayLoop(
            relay_with(store, InMemoryPublisher(broker, TOPIC), clock, batch_size=7),
            signal,
            0.01,
            retry=RetryPolicy(0.001, 0.001),
        )
        for _ in range(2)
    ]
    ids: list[str] = []

    def ingest_many() -> None:
        ids.extend(ingest(BODY) for _ in range(100))

    with running(loops[0]), running(loops[1]):
        writers = [threading.Thread(target=ingest_many) for _ in range(3)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        eventually(lambda: backlog(store) == 0, "the outbox is drained")

    published = Counter(record.key for record in broker.records(TOPIC))
    assert len(ids) == 300
    assert published == Counter(ids)
    assert {store.requests[i].status for i in ids} == {RequestStatus.PUBLISHED}


def test_on_stop_the_loop_drains_what_is_waiting_before_it_returns():
    store = InMemoryStore()
    broker = InMemoryBroker()
    relay = RelayOutbox(lambda: InMemoryUnitOfWork(store), InMemoryPublisher(broker, "t"), ManualClock(), batch_size=2)
    loop = RelayLoop(relay, InMemoryOutboxSignal(store), poll_interval_s=60, retry=RetryPolicy(1, 30), drain_s=5)
    for key in ("a", "b", "c", "d", "e"):
        with InMemoryUnitOfWork(store) as uow:
            uow.outbox.add(OutboxMessage(key=key, payload=b"{}", created_at=ManualClock().now()))
            uow.commit()
    stop = threading.Event()
    stop.set()

    loop.run(stop)

    assert sorted(record.key for record in broker.records("t")) == ["a", "b", "c", "d", "e"]
    assert store.outbox.keys() == store.sent.keys()


def test_the_relay_refuses_a_limit_on_its_passes(store, clock, signal, broker):
    with pytest.raises(ValueError, match="attempts must be 0"):
        RelayLoop(relay_with(store, InMemoryPublisher(broker, TOPIC), clock), signal, 1.0, retry=RetryPolicy(1, 2, 3))
