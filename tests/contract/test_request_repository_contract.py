"""The `RequestRepository` contract: requests by ID, and status moves the lifecycle allows."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model.errors import DuplicateRequest
from domain.model.request import (
    DATA_ITEMS_MAX,
    KEY_MAX,
    PROMPT_MAX,
    USER_ID_MAX,
    VALUE_MAX,
    DataItem,
    OneRequest,
    RequestStatus,
    StoredRequest,
)
from tests.contract.conftest import Backend
from tests.contract.examples import T0, a_request, later

# Text the store keeps verbatim. NUL and lone surrogates are left out: Postgres cannot store the
# first and UTF-8 cannot encode the second, so the domain must refuse them before they get here.
TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def stored(backend: Backend, request_id: str) -> StoredRequest | None:
    with backend.unit_of_work() as uow:
        return uow.requests.get(request_id)


def committed(backend: Backend, *requests: StoredRequest) -> None:
    with backend.unit_of_work() as uow:
        for request in requests:
            uow.requests.add(request)
        uow.commit()


bodies = st.builds(
    OneRequest,
    user_id=st.text(TEXT, min_size=1, max_size=USER_ID_MAX),
    prompt=st.text(TEXT, max_size=PROMPT_MAX // 20),
    data=st.lists(
        st.builds(DataItem, st.text(TEXT, min_size=1, max_size=KEY_MAX), st.text(TEXT, max_size=VALUE_MAX // 20)),
        max_size=DATA_ITEMS_MAX // 10,
    ).map(tuple),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies,
    status=st.sampled_from(RequestStatus),
    reason=st.none() | st.text(TEXT, max_size=200),
    submitted_by=st.none() | st.text(TEXT, min_size=1, max_size=256),
)
def test_get_returns_a_request_exactly_as_added(
    backend: Backend, body: OneRequest, status: RequestStatus, reason: str | None, submitted_by: str | None
) -> None:
    request = StoredRequest(
        uuid.uuid4().hex,
        body,
        status,
        created_at=T0,
        updated_at=later(1.5),
        failure_reason=reason,
        submitted_by=submitted_by,
    )
    committed(backend, request)

    assert stored(backend, request.request_id) == request


def test_get_of_an_unknown_id_is_none(backend: Backend) -> None:
    committed(backend, a_request("r1"))

    assert stored(backend, "r2") is None


def test_adding_an_id_that_exists_fails_and_keeps_the_first(backend: Backend) -> None:
    committed(backend, a_request("r1"))

    with pytest.raises(DuplicateRequest, match="r1"):
        committed(backend, a_request("r1", RequestStatus.FAILED, reason="impostor"))

    assert stored(backend, "r1") == a_request("r1")


def test_adding_an_id_twice_in_one_unit_fails_and_keeps_neither(backend: Backend) -> None:
    with pytest.raises(DuplicateRequest, match="r1"):
        committed(backend, a_request("r1"), a_request("r1"))

    assert stored(backend, "r1") is None


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RequestStatus, RequestStatus)))
def test_record_status_moves_a_request_only_where_the_lifecycle_allows(
    backend: Backend, current: RequestStatus, target: RequestStatus
) -> None:
    committed(backend, a_request("r1", current))

    with backend.unit_of_work() as uow:
        moved = uow.requests.record_status(["r1"], target, later(60), reason="why")
        uow.commit()

    if target.may_follow(current):
        assert moved == 1
        assert stored(backend, "r1") == StoredRequest("r1", a_request("r1").body, target, T0, later(60), "why")
    else:
        assert moved == 0
        assert stored(backend, "r1") == a_request("r1", current)


def test_record_status_counts_only_the_requests_it_moves(backend: Backend) -> None:
    committed(backend, a_request("r1"), a_request("r2"), a_request("r3", RequestStatus.FORWARDED))

    with backend.unit_of_work() as uow:
        moved = uow.requests.record_status(iter(["r1", "r2", "r3", "unknown", "r1"]), RequestStatus.PUBLISHED, T0)
        uow.commit()

    assert moved == 2
    assert [stored(backend, r).status for r in ("r1", "r2", "r3")] == [  # type: ignore[union-attr]
        RequestStatus.PUBLISHED,
        RequestStatus.PUBLISHED,
        RequestStatus.FORWARDED,
    ]


def test_record_status_of_no_ids_moves_nothing(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        assert uow.requests.record_status([], RequestStatus.PUBLISHED, T0) == 0


def test_a_later_success_clears_the_failure_reason(backend: Backend) -> None:
    committed(backend, a_request("r1"))

    with backend.unit_of_work() as uow:
        uow.requests.record_status(["r1"], RequestStatus.FAILED, later(1), reason="third party said 503")
        uow.commit()
    assert stored(backend, "r1").failure_reason == "third party said 503"  # type: ignore[union-attr]

    with backend.unit_of_work() as uow:
        uow.requests.record_status(["r1"], RequestStatus.FORWARDED, later(2))
        uow.commit()

    forwarded = stored(backend, "r1")
    assert forwarded is not None
    assert (forwarded.status, forwarded.failure_reason, forwarded.updated_at) == (
        RequestStatus.FORWARDED,
        None,
        later(2),
    )


def test_a_status_recorded_in_a_unit_is_seen_there_and_lost_without_commit(backend: Backend) -> None:
    committed(backend, a_request("r1"))

    with backend.unit_of_work() as uow:
        assert uow.requests.record_status(["r1"], RequestStatus.PUBLISHED, later(1)) == 1
        assert uow.requests.get("r1").status == RequestStatus.PUBLISHED  # type: ignore[union-attr]
        assert uow.requests.record_status(["r1"], RequestStatus.PUBLISHED, later(2)) == 0

    assert stored(backend, "r1") == a_request("r1")


def test_a_request_added_in_a_unit_can_move_in_that_unit(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.requests.add(a_request("r1"))
        assert uow.requests.record_status(["r1"], RequestStatus.FORWARDED, later(1)) == 1
        uow.commit()

    assert stored(backend, "r1").status == RequestStatus.FORWARDED  # type: ignore[union-attr]


def created_at(request_id: str, seconds: float) -> StoredRequest:
    request = a_request(request_id)
    return StoredRequest(request_id, request.body, request.status, later(seconds), later(seconds))


def test_recent_lists_the_newest_requests_first_up_to_the_limit(backend: Backend) -> None:
    committed(backend, created_at("r-middle", 2), created_at("r-old", 1), created_at("r-new", 3))
    with backend.unit_of_work() as uow:
        assert [r.request_id for r in uow.requests.recent(2)] == ["r-new", "r-middle"]
        assert [r.request_id for r in uow.requests.recent(10)] == ["r-new", "r-middle", "r-old"]
        assert uow.requests.recent(0) == []


def test_recent_orders_requests_created_at_the_same_time_by_id_largest_first(backend: Backend) -> None:
    committed(backend, a_request("r-a"), a_request("r-c"), a_request("r-b"))
    with backend.unit_of_work() as uow:
        assert [r.request_id for r in uow.requests.recent(3)] == ["r-c", "r-b", "r-a"]


def test_recent_shows_each_request_in_its_current_status(backend: Backend) -> None:
    committed(backend, a_request("r-1"))
    with backend.unit_of_work() as uow:
        uow.requests.record_status(["r-1"], RequestStatus.FAILED, later(1), "the third party said no")
        uow.commit()
    expected = stored(backend, "r-1")
    with backend.unit_of_work() as uow:
        [listed] = uow.requests.recent(1)
    assert listed == expected
    assert (listed.status, listed.failure_reason, listed.updated_at) == (
        RequestStatus.FAILED,
        "the third party said no",
        later(1),
    )


def test_recent_of_an_empty_store_is_empty(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        assert uow.requests.recent(5) == []
