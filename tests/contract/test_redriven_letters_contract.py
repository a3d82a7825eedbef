"""The `RedrivenLetters` contract: a dead letter's position is claimed once, kept only with its unit of work."""

from __future__ import annotations

from ports.messages import Origin
from tests.contract.conftest import Backend
from tests.contract.examples import later

LETTER = Origin("one-request-dlq", 2, 41)


def claimed(backend: Backend, origin: Origin, *, commit: bool = True) -> bool:
    with backend.unit_of_work() as uow:
        won = uow.redriven_letters.claim(origin, "r1", later(1))
        if commit:
            uow.commit()
    return won


def test_a_position_is_claimed_once(backend: Backend) -> None:
    assert claimed(backend, LETTER)
    assert not claimed(backend, LETTER)
    assert claimed(backend, Origin("one-request-dlq", 2, 42))
    assert claimed(backend, Origin("one-request-dlq", 1, 41))
    assert claimed(backend, Origin("other-dlq", 2, 41))


def test_a_claim_rolled_back_leaves_the_position_free(backend: Backend) -> None:
    assert claimed(backend, LETTER, commit=False)
    assert claimed(backend, LETTER)


def test_a_poison_letter_without_a_request_is_claimed_too(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        assert uow.redriven_letters.claim(LETTER, None, later(1))
        uow.commit()
    assert not claimed(backend, LETTER)
