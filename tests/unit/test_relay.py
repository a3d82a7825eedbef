"""One relay pass (`RelayOutbox`) on the in-memory store and broker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from adapters.memory.broker import InMemoryPublisher
from adapters.memory.store import InMemoryUnitOfWork
from domain.model.message import PendingMessage
from domain.model.request import RequestStatus
from domain.usecases.relay import RelayOutbox, RelayPass
from ports.publisher import Publisher

TOPIC = "one-request"
BODY = {"user_id": "user-1", "prompt": "hello"}


class RefusingPublisher(Publisher):
    """Publishes through the in-memory broker, except the messages `refuse` picks (as a broker that did not ack)."""

    def __init__(self, inner: Publisher, refuse: Callable[[PendingMessage], bool]) -> None:
        self._inner = inner
        self._refuse = refuse

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        return self._inner.publish([m for m in messages if not self._refuse(m)])


class GatedPublisher(Publisher):
    """Waits at `gate` before publishing, so that two passes are provably in flight at once."""

    def __init__(self, inner: Publisher, gate: threading.Barrier) -> None:
        self._inner = inner
        self._gate = gate

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        self._gate.wait()
        return self._inner.publish(messages)


class BrokenPublisher(Publisher):
    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        raise ConnectionError("broker client crashed")


def relay_with(store, publisher, clock, batch_size=100):
    return RelayOutbox(lambda: InMemoryUnitOfWork(store), publisher, clock, batch_size=batch_size)


def test_delivered_messages_are_marked_sent_and_their_requests_published(store, broker, clock, ingest):
    ids = [ingest(BODY) for _ in range(3)]
    clock.advance(5)

    outcome = relay_with(store, InMemoryPublisher(broker, TOPIC), clock)()

    assert outcome == RelayPass(claimed=3, delivered=3)
    assert sorted(record.key for record in broker.records(TOPIC)) == sorted(ids)
    assert set(store.sent.values()) == {clock.now()}
    assert InMemoryUnitOfWork(store).outbox.backlog() == 0
    for request_id in ids:
        assert store.requests[request_id].status is RequestStatus.PUBLISHED
        assert store.requests[request_id].updated_at == clock.now()


def test_undelivered_messages_stay_pending_and_go_out_on_a_later_pass(store, broker, clock, ingest):
    refused, delivered = ingest(BODY), ingest(BODY)
    flaky = RefusingPublisher(InMemoryPublisher(broker, TOPIC), refuse=lambda m: m.message.key == refused)

    assert relay_with(store, flaky, clock)() == RelayPass(claimed=2, delivered=1)

    assert store.requests[refused].status is RequestStatus.ACCEPTED
    assert store.requests[delivered].status is RequestStatus.PUBLISHED
    assert InMemoryUnitOfWork(store).outbox.backlog() == 1

    assert relay_with(store, InMemoryPublisher(broker, TOPIC), clock)() == RelayPass(claimed=1, delivered=1)

    assert store.requests[refused].status is RequestStatus.PUBLISHED
    assert sorted(record.key for record in broker.records(TOPIC)) == sorted([refused, delivered])


def test_a_request_already_forwarded_is_not_moved_back_to_published(store, broker, clock, ingest):
    request_id = ingest(BODY)
    with InMemoryUnitOfWork(store) as uow:
        uow.requests.record_status([request_id], RequestStatus.FORWARDED, clock.now())
        uow.commit()

    assert relay_with(store, InMemoryPublisher(broker, TOPIC), clock)() == RelayPass(claimed=1, delivered=1)

    assert store.requests[request_id].status is RequestStatus.FORWARDED
    assert InMemoryUnitOfWork(store).outbox.backlog() == 0


def test_a_pass_claims_at_most_one_batch(store, broker, clock, ingest):
    for _ in range(5):
        ingest(BODY)
    relay = relay_with(store, InMemoryPublisher(broker, TOPIC), clock, batch_size=2)

    assert [relay(), relay(), relay(), relay()] == [RelayPass(2, 2), RelayPass(2, 2), RelayPass(1, 1), RelayPass(0, 0)]


def test_a_publisher_that_raises_leaves_the_batch_pending_and_unclaimed(store, broker, clock, ingest):
    request_id = ingest(BODY)

    with pytest.raises(ConnectionError):
        relay_with(store, BrokenPublisher(), clock)()

    assert store.claimed == set()
    assert relay_with(store, InMemoryPublisher(broker, TOPIC), clock)() == RelayPass(1, 1)
    assert store.requests[request_id].status is RequestStatus.PUBLISHED


def test_two_relays_in_flight_at_once_never_publish_the_same_message(store, broker, clock, ingest):
    ids = [ingest(BODY) for _ in range(4)]
    both_in_flight = threading.Barrier(2, timeout=10)
    relays = [
        relay_with(store, GatedPublisher(InMemoryPublisher(broker, TOPIC), both_in_flight), clock, 2) for _ in range(2)
    ]
    outcomes: list[RelayPass] = []
    threads = [threading.Thread(target=lambda r=relay: outcomes.append(r())) for relay in relays]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert outcomes == [RelayPass(2, 2), RelayPass(2, 2)]
    assert sorted(record.key for record in broker.records(TOPIC)) == sorted(ids)
