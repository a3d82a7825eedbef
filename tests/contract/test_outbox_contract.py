"""The `Outbox` contract: messages kept with their unit of work, claimed oldest first by one
relay at a time, and pending until marked sent."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from domain.model.message import OutboxMessage
from tests.contract.conftest import Backend, on_another_thread
from tests.contract.examples import a_message, later


def committed(backend: Backend, *messages: OutboxMessage) -> None:
    with backend.unit_of_work() as uow:
        for message in messages:
            uow.outbox.add(message)
        uow.commit()


def claimed_keys(backend: Backend, limit: int = 100) -> list[str]:
    with backend.unit_of_work() as uow:
        return [pending.message.key for pending in uow.outbox.claim_pending(limit)]


def backlog(backend: Backend) -> int:
    with backend.unit_of_work() as uow:
        return uow.outbox.backlog()


def test_claim_returns_committed_messages_oldest_first(backend: Backend) -> None:
    committed(backend, a_message("m1"), a_message("m2"))
    committed(backend, a_message("m3"))

    with backend.unit_of_work() as uow:
        pending = uow.outbox.claim_pending(10)

    assert [p.message for p in pending] == [a_message("m1"), a_message("m2"), a_message("m3")]
    assert [p.outbox_id for p in pending] == sorted(p.outbox_id for p in pending)
    assert len({p.outbox_id for p in pending}) == 3


def test_claim_takes_at_most_its_limit(backend: Backend) -> None:
    committed(backend, *(a_message(f"m{i}") for i in range(5)))

    assert claimed_keys(backend, limit=2) == ["m0", "m1"]
    assert claimed_keys(backend, limit=0) == []


def test_a_message_comes_back_byte_for_byte(backend: Backend) -> None:
    message = OutboxMessage(
        key="r-ü",
        payload=bytes(range(256)),
        created_at=later(0.000001),
        headers={"traceparent": "00-abc-def-01", "baggage": "é=✓"},
    )
    committed(backend, message)

    with backend.unit_of_work() as uow:
        assert [p.message for p in uow.outbox.claim_pending(1)] == [message]


def test_units_claim_disjoint_messages_and_a_rollback_frees_a_claim(backend: Backend) -> None:
    committed(backend, *(a_message(f"m{i}") for i in range(5)))

    def claim_elsewhere(limit: int, *, then: Callable[[], list[str]] = list) -> tuple[list[str], list[str]]:
        with backend.unit_of_work() as uow:
            return [p.message.key for p in uow.outbox.claim_pending(limit)], on_another_thread(then)

    def claim_all_elsewhere() -> list[str]:
        return on_another_thread(lambda: claim_elsewhere(10)[0])

    with backend.unit_of_work() as first:
        assert [p.message.key for p in first.outbox.claim_pending(2)] == ["m0", "m1"]
        second, third = on_another_thread(lambda: claim_elsewhere(10, then=claim_all_elsewhere))
        assert (second, third) == (["m2", "m3", "m4"], [])
        first.rollback()
        assert claim_all_elsewhere() == ["m0", "m1", "m2", "m3", "m4"]


def test_a_claim_ends_with_its_unit_whether_it_commits_or_not(backend: Backend) -> None:
    committed(backend, a_message("m1"))

    with backend.unit_of_work() as uow:
        assert len(uow.outbox.claim_pending(10)) == 1
    assert claimed_keys(backend) == ["m1"]

    with backend.unit_of_work() as uow:
        assert len(uow.outbox.claim_pending(10)) == 1
        uow.commit()
    assert claimed_keys(backend) == ["m1"]


def test_messages_marked_sent_are_not_claimed_again_and_leave_the_backlog(backend: Backend) -> None:
    committed(backend, a_message("m1"), a_message("m2"), a_message("m3"))

    with backend.unit_of_work() as uow:
        pending = uow.outbox.claim_pending(10)
        uow.outbox.mark_sent([pending[0].outbox_id, pending[2].outbox_id], later(1))
        uow.commit()

    assert claimed_keys(backend) == ["m2"]
    assert backlog(backend) == 1


def test_marking_without_commit_leaves_messages_pending(backend: Backend) -> None:
    committed(backend, a_message("m1"))

    with backend.unit_of_work() as uow:
        pending = uow.outbox.claim_pending(10)
        uow.outbox.mark_sent([p.outbox_id for p in pending], later(1))

    assert claimed_keys(backend) == ["m1"]
    assert backlog(backend) == 1


def test_backlog_counts_committed_unsent_messages_and_the_units_own(backend: Backend) -> None:
    assert backlog(backend) == 0
    committed(backend, a_message("m1"), a_message("m2"))

    with backend.unit_of_work() as uow:
        uow.outbox.add(a_message("m3"))
        assert uow.outbox.backlog() == 3
        pending = uow.outbox.claim_pending(1)
        uow.outbox.mark_sent([p.outbox_id for p in pending], later(1))
        assert uow.outbox.backlog() == 2

    assert backlog(backend) == 2


def test_concurrent_relays_claim_every_message_exactly_once(backend: Backend) -> None:
    keys = [f"m{i:03}" for i in range(120)]
    committed(backend, *(a_message(key) for key in keys))
    claims: list[str] = []
    lock = threading.Lock()

    def relay() -> None:
        while True:
            with backend.unit_of_work() as uow:
                pending = uow.outbox.claim_pending(7)
                if not pending:
                    return
                uow.outbox.mark_sent([p.outbox_id for p in pending], later(1))
                uow.commit()
            with lock:
                claims.extend(p.message.key for p in pending)

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(relay) for _ in range(4)]:
            future.result(timeout=60)

    assert sorted(claims) == keys
    assert backlog(backend) == 0


def test_a_key_s_newer_message_waits_until_its_older_one_is_sent(backend: Backend) -> None:
    committed(backend, a_message("r1"), a_message("r2"))
    committed(backend, a_message("r1", {"cruncan-redrive-count": "1"}))

    with backend.unit_of_work() as uow:
        first = uow.outbox.claim_pending(10)
        assert [(p.message.key, dict(p.message.headers)) for p in first] == [
            ("r1", {"traceparent": "00-r1"}),
            ("r2", {"traceparent": "00-r2"}),
        ]
        uow.outbox.mark_sent([p.outbox_id for p in first], later(1))
        uow.commit()

    with backend.unit_of_work() as uow:
        [second] = uow.outbox.claim_pending(10)
    assert (second.message.key, dict(second.message.headers)) == ("r1", {"cruncan-redrive-count": "1"})


def test_a_key_s_newer_message_waits_while_another_relay_holds_the_older_one(backend: Backend) -> None:
    committed(backend, a_message("r1"), a_message("r1", {"cruncan-redrive-count": "1"}), a_message("r2"))

    with backend.unit_of_work() as holder:
        assert [p.message.key for p in holder.outbox.claim_pending(1)] == ["r1"]
        assert on_another_thread(lambda: claimed_keys(backend)) == ["r2"]
    assert claimed_keys(backend) == ["r1", "r2"]
