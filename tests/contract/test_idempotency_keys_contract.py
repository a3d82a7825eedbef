"""The `IdempotencyKeys` contract: a key is held by one unit of work at a time, kept with its
request on commit, absent once expired, and purged when asked."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model.errors import IdempotencyKeyInUse
from domain.model.idempotency import KEY_MAX, IdempotencyRecord
from tests.contract.conftest import Backend, on_another_thread
from tests.contract.examples import T0, a_request, later

DAY = timedelta(days=1)


def a_record(key: str, request_id: str, created_seconds: float = 0, lifetime: timedelta = DAY) -> IdempotencyRecord:
    created_at = later(created_seconds)
    return IdempotencyRecord(key, f"fingerprint-of-{request_id}", request_id, created_at, created_at + lifetime)


def store_with_key(backend: Backend, record: IdempotencyRecord) -> None:
    """Stores the record's request and the record, as ingestion does: claim, add both, commit."""
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.claim(record.key, record.created_at) is None
        uow.requests.add(a_request(record.request_id))
        uow.idempotency_keys.add(record)
        uow.commit()


def claimed(backend: Backend, key: str, at: float = 1) -> IdempotencyRecord | None:
    with backend.unit_of_work() as uow:
        return uow.idempotency_keys.claim(key, later(at))


def test_a_committed_key_is_found_by_the_next_claim(backend: Backend) -> None:
    record = a_record("key-1", "r1")
    store_with_key(backend, record)

    assert claimed(backend, "key-1") == record
    assert claimed(backend, "key-2") is None


@pytest.fixture
def kept() -> dict[str, IdempotencyRecord]:
    """The records a property test stored so far: its examples share one backend."""
    return {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=KEY_MAX))
def test_any_printable_ascii_key_is_kept_verbatim(
    backend: Backend, kept: dict[str, IdempotencyRecord], key: str
) -> None:
    if key not in kept:
        kept[key] = a_record(key, uuid.uuid4().hex)
        store_with_key(backend, kept[key])

    assert claimed(backend, key) == kept[key]


def test_keys_differing_only_in_case_are_different_keys(backend: Backend) -> None:
    store_with_key(backend, a_record("Key-1", "r1"))

    assert claimed(backend, "key-1") is None
    assert claimed(backend, "Key-1 ") is None


def test_a_key_added_without_commit_is_not_kept(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        uow.idempotency_keys.claim("key-1", T0)
        uow.requests.add(a_request("r1"))
        uow.idempotency_keys.add(a_record("key-1", "r1"))

    assert claimed(backend, "key-1") is None


@pytest.mark.parametrize("ending", ["commit", "rollback", "exit"])
def test_a_claimed_key_is_refused_to_other_units_until_its_unit_ends(backend: Backend, ending: str) -> None:
    with backend.unit_of_work() as holder:
        assert holder.idempotency_keys.claim("key-1", T0) is None
        with pytest.raises(IdempotencyKeyInUse):
            on_another_thread(lambda: claimed(backend, "key-1"))
        assert on_another_thread(lambda: claimed(backend, "key-2")) is None
        if ending == "commit":
            holder.commit()
        elif ending == "rollback":
            holder.rollback()

    assert claimed(backend, "key-1") is None


def test_a_stored_key_is_read_by_any_number_of_units_at_once(backend: Backend) -> None:
    """Retries of a stored request only read its key, so they do not refuse one another."""
    record = a_record("key-1", "r1")
    store_with_key(backend, record)

    with backend.unit_of_work() as first:
        assert first.idempotency_keys.claim("key-1", later(1)) == record
        assert on_another_thread(lambda: claimed(backend, "key-1")) == record


def test_an_expired_key_is_held_by_the_unit_that_replaces_it(backend: Backend) -> None:
    store_with_key(backend, a_record("key-1", "r1", lifetime=timedelta(seconds=10)))

    with backend.unit_of_work() as renewing:
        assert renewing.idempotency_keys.claim("key-1", later(10)) is None
        with pytest.raises(IdempotencyKeyInUse):
            on_another_thread(lambda: claimed(backend, "key-1", at=10))


def test_a_unit_may_claim_its_own_key_again(backend: Backend) -> None:
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.claim("key-1", T0) is None
        assert uow.idempotency_keys.claim("key-1", T0) is None


def test_an_expired_key_is_absent_and_may_be_stored_again(backend: Backend) -> None:
    store_with_key(backend, a_record("key-1", "r1", lifetime=timedelta(seconds=10)))
    assert claimed(backend, "key-1", at=9.999) is not None
    renewed = a_record("key-1", "r2", created_seconds=10)

    store_with_key(backend, renewed)

    assert claimed(backend, "key-1", at=11) == renewed


def test_a_key_another_unit_stored_cannot_be_added_again(backend: Backend) -> None:
    store_with_key(backend, a_record("key-1", "r1"))

    def add_unclaimed() -> None:
        with backend.unit_of_work() as uow:
            uow.requests.add(a_request("r2"))
            uow.idempotency_keys.add(a_record("key-1", "r2"))
            uow.commit()

    with pytest.raises(IdempotencyKeyInUse):
        add_unclaimed()

    assert claimed(backend, "key-1") == a_record("key-1", "r1")
    with backend.unit_of_work() as uow:
        assert uow.requests.get("r2") is None


def test_purge_deletes_the_keys_expired_at_that_moment_once_committed(backend: Backend) -> None:
    store_with_key(backend, a_record("short", "r1", lifetime=timedelta(seconds=10)))
    store_with_key(backend, a_record("exact", "r2", lifetime=timedelta(seconds=20)))
    store_with_key(backend, a_record("long", "r3", lifetime=timedelta(seconds=30)))

    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.purge_expired(later(20)) == 2
    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.purge_expired(later(20)) == 2
        uow.commit()

    with backend.unit_of_work() as uow:
        assert uow.idempotency_keys.purge_expired(later(20)) == 0
        found = {key: uow.idempotency_keys.claim(key, T0) for key in ("short", "exact", "long")}
        assert found == {"short": None, "exact": None, "long": a_record("long", "r3", lifetime=timedelta(seconds=30))}
        assert uow.requests.get("r1") is not None, "purging a key keeps its request"
