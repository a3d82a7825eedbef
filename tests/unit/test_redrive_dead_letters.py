"""`RedriveDeadLetters` on the in-memory broker and store: each dead letter once, poison ones republished
as they came, positions committed only after the unit of work."""

from __future__ import annotations

from adapters.memory.broker import InMemoryBroker
from adapters.memory.clock import ManualClock
from adapters.memory.dead_letter_reader import InMemoryDeadLetterReader
from adapters.memory.dead_letters import InMemoryDeadLetters
from adapters.memory.job_lock import InMemoryJobLock, InMemoryLocks
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from domain.model.dead_letters import LettersRedriven
from domain.model.message import RequestMessage
from domain.model.redrive import REDRIVE_HEADER
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from domain.usecases.redrive_dead_letters import RedriveDeadLetters

DLQ, TOPIC = "one-request-dlq", "one-request"


# Request IDs of the form the ID generator issues: a letter is decoded before it is redriven.
R1, R2, R3 = (f"{n:020d}" for n in (1, 2, 3))


def dead_letter(broker: InMemoryBroker, key: str, value: bytes) -> None:
    broker.append(DLQ, key, value, {"traceparent": f"00-{key}", "cruncan.dlq.reason": "422", "cruncan.dlq.cause": "x"})


def failed_request(store: InMemoryStore, clock: ManualClock, request_id: str) -> bytes:
    body = OneRequest(user_id="u", prompt=request_id)
    store.requests[request_id] = StoredRequest(request_id, body, RequestStatus.FAILED, clock.now(), clock.now(), "422")
    return RequestMessage(request_id, body).encode()


def redriver(store, clock, broker, positions: dict[int, int]) -> RedriveDeadLetters:
    return RedriveDeadLetters(
        lambda: InMemoryUnitOfWork(store),
        clock,
        lambda: InMemoryDeadLetterReader(broker, DLQ, positions),
        InMemoryDeadLetters(broker, TOPIC),
        InMemoryJobLock(InMemoryLocks(), "redrive", 60, clock),
    )


def test_each_letter_is_redriven_once_and_poison_goes_back_as_it_came(store, clock) -> None:
    broker = InMemoryBroker()
    for request_id in (R1, R2):
        dead_letter(broker, request_id, failed_request(store, clock, request_id))
    dead_letter(broker, "poison", b"\xff")
    positions: dict[int, int] = {}

    done = redriver(store, clock, broker, positions)(None)

    assert done == LettersRedriven(requests=2, poison=1)
    assert sorted((m.key, dict(m.headers)) for m in store.outbox.values()) == [
        (R1, {"traceparent": f"00-{R1}", REDRIVE_HEADER: "1"}),
        (R2, {"traceparent": f"00-{R2}", REDRIVE_HEADER: "1"}),
    ]
    [republished] = broker.records(TOPIC)
    assert (republished.key, republished.value, republished.headers) == (
        "poison",
        b"\xff",
        {"traceparent": "00-poison"},
    )
    assert sum(positions.values()) == 3
    assert redriver(store, clock, broker, positions)(None) == LettersRedriven()
    assert redriver(store, clock, broker, {})(None) == LettersRedriven(seen_before=3), "positions lost: Postgres fences"
    assert len(store.outbox) == 2
    assert len(broker.records(TOPIC)) == 1


def test_a_letter_whose_request_is_no_longer_failed_is_not_redriven(store, clock) -> None:
    broker = InMemoryBroker()
    payload = failed_request(store, clock, R1)
    dead_letter(broker, R1, payload)
    dead_letter(broker, R1, payload)

    assert redriver(store, clock, broker, {})(None) == LettersRedriven(requests=1, not_failed=1)
    assert len(store.outbox) == 1


def test_a_dry_run_lists_letters_and_commits_nothing(store, clock) -> None:
    broker = InMemoryBroker()
    dead_letter(broker, R1, failed_request(store, clock, R1))
    dead_letter(broker, "poison", b"\xff")
    positions: dict[int, int] = {}

    found = redriver(store, clock, broker, positions).preview(None)

    assert sorted(str(q.request_id) for q in found) == [R1, "None"]
    assert positions == {}
    assert not store.outbox


def test_the_limit_caps_the_letters_taken(store, clock) -> None:
    broker = InMemoryBroker(partitions=1)
    for request_id in (R1, R2, R3):
        dead_letter(broker, request_id, failed_request(store, clock, request_id))
    positions: dict[int, int] = {}

    assert redriver(store, clock, broker, positions)(2).requests == 2
    assert positions == {0: 2}
    assert redriver(store, clock, broker, positions)(None).requests == 1
