"""The `OutboxSignal` contract: a relay waiting for work wakes when outbox messages commit,
and only then."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from ports.outbox import OutboxSignal
from tests.contract.conftest import Backend
from tests.contract.examples import a_message, a_request, later

NOTHING_COMES_S = 0.3
DEADLINE_S = 30.0


@pytest.fixture
def waiter() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def primed(backend: Backend) -> OutboxSignal:
    """A signal that has waited once with nothing to report, as a relay idles between passes."""
    signal = backend.signal()
    assert signal.wait(0.01) is False
    return signal


def commit_a_message(backend: Backend, key: str = "m1") -> None:
    with backend.unit_of_work() as uow:
        uow.outbox.add(a_message(key))
        uow.commit()


def test_wait_times_out_when_nothing_is_committed(backend: Backend) -> None:
    assert backend.signal().wait(NOTHING_COMES_S) is False


def test_first_wait_reports_messages_already_waiting(backend: Backend) -> None:
    commit_a_message(backend)

    assert backend.signal().wait(DEADLINE_S) is True


def test_a_commit_wakes_a_waiting_relay(backend: Backend, waiter: ThreadPoolExecutor) -> None:
    signal = primed(backend)
    woken: Future[bool] = waiter.submit(signal.wait, DEADLINE_S)

    commit_a_message(backend)

    assert woken.result(timeout=DEADLINE_S) is True


def test_a_commit_between_two_waits_is_not_lost(backend: Backend) -> None:
    signal = primed(backend)

    commit_a_message(backend)

    assert signal.wait(DEADLINE_S) is True
    assert signal.wait(NOTHING_COMES_S) is False


def test_every_waiting_relay_wakes(backend: Backend, waiter: ThreadPoolExecutor) -> None:
    signals = [primed(backend), primed(backend)]
    woken = [waiter.submit(signal.wait, DEADLINE_S) for signal in signals]

    commit_a_message(backend)

    assert [future.result(timeout=DEADLINE_S) for future in woken] == [True, True]


def test_a_rolled_back_message_does_not_wake(backend: Backend) -> None:
    signal = primed(backend)

    with backend.unit_of_work() as uow:
        uow.outbox.add(a_message("m1"))
        assert uow.outbox.backlog() == 1

    assert signal.wait(NOTHING_COMES_S) is False


def test_commits_without_new_messages_do_not_wake(backend: Backend) -> None:
    commit_a_message(backend)
    signal = backend.signal()
    assert signal.wait(DEADLINE_S) is True

    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        uow.outbox.mark_sent([p.outbox_id for p in uow.outbox.claim_pending(10)], later(1))
        uow.commit()

    assert signal.wait(NOTHING_COMES_S) is False


def test_close_unblocks_a_waiting_relay(backend: Backend, waiter: ThreadPoolExecutor) -> None:
    signal = primed(backend)
    woken = waiter.submit(signal.wait, 10 * DEADLINE_S)

    signal.close()

    assert woken.result(timeout=DEADLINE_S) is False


def test_wait_after_close_returns_false_even_with_messages_waiting(backend: Backend) -> None:
    signal = primed(backend)
    signal.close()
    commit_a_message(backend)

    assert signal.wait(DEADLINE_S) is False
    signal.close()
