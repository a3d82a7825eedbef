"""The `UnitOfWork` contract: nothing is kept unless `commit()` is called before the block exits."""

from __future__ import annotations

import pytest

from domain.model.errors import DuplicateRequest
from tests.contract.conftest import Backend, on_another_thread
from tests.contract.examples import a_message, a_request


class Boom(Exception):
    pass


def stored_ids(backend: Backend, *request_ids: str) -> list[str]:
    with backend.unit_of_work() as uow:
        return [request_id for request_id in request_ids if uow.requests.get(request_id) is not None]


def backlog(backend: Backend) -> int:
    with backend.unit_of_work() as uow:
        return uow.outbox.backlog()


def test_committed_work_is_seen_by_later_units(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        uow.outbox.add(a_message("r1"))
        uow.commit()

    with backend.unit_of_work() as uow:
        assert uow.requests.get("r1") == a_request("r1")
        assert [pending.message for pending in uow.outbox.claim_pending(10)] == [a_message("r1")]


def test_leaving_the_block_without_commit_keeps_nothing(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        uow.outbox.add(a_message("r1"))

    assert stored_ids(backend, "r1") == []
    assert backlog(backend) == 0


def test_an_exception_in_the_block_keeps_nothing_and_propagates(backend: Backend) -> None:
    def work() -> None:
        with backend.unit_of_work() as uow:
            uow.requests.add(a_request("r1"))
            uow.outbox.add(a_message("r1"))
            assert uow.requests.get("r1") is not None
            raise Boom

    with pytest.raises(Boom):
        work()

    assert stored_ids(backend, "r1") == []
    assert backlog(backend) == 0


def test_an_exception_after_commit_keeps_what_was_committed(backend: Backend) -> None:
    def work() -> None:
        with backend.unit_of_work() as uow:
            uow.requests.add(a_request("r1"))
            uow.commit()
            uow.requests.add(a_request("r2"))
            raise Boom

    with pytest.raises(Boom):
        work()

    assert stored_ids(backend, "r1", "r2") == ["r1"]


def test_a_commit_that_fails_keeps_none_of_the_units_work(backend: Backend) -> None:
    committed = a_request("r1")
    with backend.unit_of_work() as uow:
        uow.requests.add(committed)
        uow.commit()

    def work() -> None:
        with backend.unit_of_work() as uow:
            uow.outbox.add(a_message("r2"))
            uow.requests.add(a_request("r2"))
            uow.requests.add(a_request("r1"))
            uow.commit()

    with pytest.raises(DuplicateRequest, match="r1"):
        work()

    assert stored_ids(backend, "r1", "r2") == ["r1"]
    assert backlog(backend) == 0


def test_rollback_discards_the_work_so_far_and_the_unit_goes_on(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        assert uow.requests.get("r1") is not None
        uow.rollback()
        assert uow.requests.get("r1") is None
        uow.requests.add(a_request("r2"))
        uow.commit()

    assert stored_ids(backend, "r1", "r2") == ["r2"]


def test_work_after_a_commit_needs_a_commit_of_its_own(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        uow.commit()
        uow.requests.add(a_request("r2"))
        uow.outbox.add(a_message("r2"))

    assert stored_ids(backend, "r1", "r2") == ["r1"]
    assert backlog(backend) == 0


def test_a_unit_reads_its_own_writes_which_others_see_only_once_committed(backend: Backend) -> None:
    with backend.unit_of_work() as writer:
        writer.requests.add(a_request("r1"))
        writer.outbox.add(a_message("r1"))
        assert writer.requests.get("r1") == a_request("r1")
        assert writer.outbox.backlog() == 1

        def read_elsewhere() -> tuple[object, int, list[object]]:
            with backend.unit_of_work() as reader:
                return reader.requests.get("r1"), reader.outbox.backlog(), list(reader.outbox.claim_pending(10))

        assert on_another_thread(read_elsewhere) == (None, 0, [])

        writer.commit()

    assert stored_ids(backend, "r1") == ["r1"]


def test_committing_or_rolling_back_nothing_is_harmless(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.commit()
        uow.rollback()
        uow.commit()

    assert backlog(backend) == 0
