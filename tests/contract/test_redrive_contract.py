"""The re-drive part of the `RequestRepository` contract: only failed requests matching the selection
move back to `accepted`, each re-drive counted, and a request another unit of work holds is skipped."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model.redrive import RedriveSelection, redrive_order
from domain.model.request import RequestStatus, StoredRequest
from tests.contract.conftest import Backend, on_another_thread
from tests.contract.examples import T0, a_request, later


def failed(request_id: str, reason: str = "third party answered 503", at: float = 0) -> StoredRequest:
    request = a_request(request_id, RequestStatus.FAILED, reason)
    return StoredRequest(
        request.request_id, request.body, request.status, T0, later(at), failure_reason=request.failure_reason
    )


def committed(backend: Backend, *requests: StoredRequest) -> None:
    with backend.unit_of_work() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


def redriven(backend: Backend, selection: RedriveSelection, limit: int = 100) -> list[str]:
    with backend.unit_of_work() as uow:
        moved = uow.requests.redrive(selection, limit, later(100))
        uow.commit()
    return [request.request_id for request in moved]


def test_a_redrive_moves_failed_requests_to_accepted_and_counts_it(backend: Backend) -> None:
    committed(backend, failed("r1"), a_request("r2", RequestStatus.FORWARDED), a_request("r3"))

    assert redriven(backend, RedriveSelection()) == ["r1"]

    with backend.unit_of_work() as uow:
        r1 = uow.requests.get("r1")
    assert r1 is not None
    assert (r1.status, r1.failure_reason, r1.redrive_count, r1.last_redriven_at) == (
        RequestStatus.ACCEPTED,
        None,
        1,
        later(100),
    )
    assert redriven(backend, RedriveSelection()) == []


def test_a_request_failing_again_is_redriven_again_with_the_next_count(backend: Backend) -> None:
    committed(backend, failed("r1"))
    redriven(backend, RedriveSelection())
    with backend.unit_of_work() as uow:
        uow.requests.record_status(["r1"], RequestStatus.FAILED, later(200), "again")
        uow.commit()

    with backend.unit_of_work() as uow:
        [again] = uow.requests.redrive(RedriveSelection(), 10, later(300))
        uow.commit()
    assert (again.redrive_count, again.last_redriven_at) == (2, later(300))


def test_a_redrive_takes_at_most_its_limit_those_that_failed_first_first(backend: Backend) -> None:
    committed(backend, failed("r1", at=3), failed("r2", at=2), failed("r3", at=1), failed("r4", at=4))

    assert redriven(backend, RedriveSelection(), limit=2) == ["r3", "r2"]
    assert redriven(backend, RedriveSelection(), limit=3) == ["r1", "r4"]


def test_a_request_another_unit_of_work_is_redriving_is_skipped(backend: Backend) -> None:
    committed(backend, failed("r1", at=1), failed("r2", at=2))

    with backend.unit_of_work() as holder:
        assert [r.request_id for r in holder.requests.redrive(RedriveSelection(), 1, later(100))] == ["r1"]
        assert on_another_thread(lambda: redriven(backend, RedriveSelection())) == ["r2"]
        holder.commit()

    assert redriven(backend, RedriveSelection()) == []


def test_a_rolled_back_redrive_leaves_the_request_failed_for_the_next_run(backend: Backend) -> None:
    committed(backend, failed("r1"))

    with backend.unit_of_work() as uow:
        assert len(uow.requests.redrive(RedriveSelection(), 10, later(100))) == 1

    assert redriven(backend, RedriveSelection()) == ["r1"]


REASONS = st.sampled_from(["third party answered 503", "third party refused: 400", "no token", "ünïcode ✓ 503"])
CAUSES = st.none() | st.sampled_from(["503", "refused", "token", "✓", "third party", "absent"])
SECONDS = st.integers(min_value=0, max_value=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    requests=st.lists(st.tuples(REASONS, SECONDS, st.booleans()), max_size=8),
    cause=CAUSES,
    before=st.none() | SECONDS,
    after=st.none() | SECONDS,
    ids=st.frozensets(st.integers(min_value=0, max_value=9).map(lambda i: f"r{i}"), max_size=3),
    limit=st.integers(min_value=1, max_value=10),
)
def test_the_selection_filters_match_the_domain_model(
    backend: Backend,
    requests: list[tuple[str, int, bool]],
    cause: str | None,
    before: int | None,
    after: int | None,
    ids: frozenset[str],
    limit: int,
) -> None:
    stored = [
        failed(f"r{i}", reason, at) if is_failed else a_request(f"r{i}", RequestStatus.FORWARDED)
        for i, (reason, at, is_failed) in enumerate(requests)
    ]
    selection = RedriveSelection(
        cause=cause,
        failed_before=None if before is None else later(before),
        failed_after=None if after is None else later(after) - timedelta(microseconds=0),
        request_ids=ids,
    )
    expected = [r.request_id for r in sorted(filter(selection.matches, stored), key=redrive_order)][:limit]
    with backend.unit_of_work() as uow:
        for request in stored:
            uow.requests.add(request)
        found = [r.request_id for r in uow.requests.failed(selection, limit)]
        moved = [r.request_id for r in uow.requests.redrive(selection, limit, later(100))]

    assert found == expected
    assert moved == expected
