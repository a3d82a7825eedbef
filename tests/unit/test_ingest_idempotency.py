"""Ingestion with an idempotency key, on the in-memory store: a retry stores nothing new."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.store import InMemoryUnitOfWork
from domain.model.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey, InvalidRequest
from domain.model.idempotency import KEY_MAX, KEY_PATTERN, SUBJECT_SEPARATOR, scoped_key
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def test_a_retry_with_the_same_key_gets_the_first_id_and_stores_nothing_new(ingest, store):
    first = ingest(BODY, "key-1")
    retried = ingest(BODY, "key-1")

    assert retried == first
    assert list(store.requests) == [first]
    assert len(store.outbox) == 1


def test_bodies_that_mean_the_same_request_are_the_same_retry(ingest, store):
    first = ingest({"user_id": "u"}, "key-1")

    assert ingest({"data": [], "prompt": "", "user_id": "u"}, "key-1") == first
    assert len(store.requests) == 1


def test_the_same_key_with_another_body_is_refused_and_stores_nothing(ingest, store):
    first = ingest(BODY, "key-1")

    with pytest.raises(IdempotencyKeyReused):
        ingest({**BODY, "prompt": "something else"}, "key-1")

    assert list(store.requests) == [first]
    assert len(store.outbox) == 1


def test_a_key_whose_first_request_is_still_being_stored_is_in_use(ingest, store, clock):
    with InMemoryUnitOfWork(store) as in_flight:
        in_flight.idempotency_keys.claim("key-1", clock.now())

        with pytest.raises(IdempotencyKeyInUse):
            ingest(BODY, "key-1")

    assert store.requests == {}
    assert ingest(BODY, "key-1") in store.requests


def test_keys_are_separate_and_no_key_means_no_deduplication(ingest, store):
    ids = {ingest(BODY, "key-1"), ingest(BODY, "key-2"), ingest(BODY), ingest(BODY)}

    assert len(ids) == 4
    assert len(store.requests) == 4


def test_each_authenticated_client_has_keys_of_its_own(ingest, store):
    alice = ingest(BODY, "key-1", submitted_by="alice")
    bob = ingest(BODY, "key-1", submitted_by="bob")
    bob_elsewhere = ingest({**BODY, "prompt": "another body"}, "key-2", submitted_by="bob")

    assert bob != alice, "bob must not be handed alice's request"
    assert ingest(BODY, "key-1", submitted_by="alice") == alice
    assert ingest(BODY, "key-1", submitted_by="bob") == bob
    assert ingest({**BODY, "prompt": "another body"}, "key-2", submitted_by="bob") == bob_elsewhere
    with pytest.raises(IdempotencyKeyReused):
        ingest({**BODY, "prompt": "another body"}, "key-1", submitted_by="alice")
    assert ingest({**BODY, "prompt": "another body"}, "key-2", submitted_by="alice") not in {alice, bob, bob_elsewhere}
    assert ingest(BODY, "key-1") not in {alice, bob}, "an anonymous key is apart from every client's"
    assert len(store.requests) == 5


@given(
    subjects=st.tuples(st.text(max_size=8), st.text(max_size=8)).filter(lambda pair: pair[0] != pair[1]),
    keys=st.tuples(st.from_regex(KEY_PATTERN, fullmatch=True), st.from_regex(KEY_PATTERN, fullmatch=True)),
)
def test_two_different_clients_never_share_a_stored_key(subjects, keys):
    """However subjects and keys are spelled (a subject may hold the separator), two clients, or a
    client and an anonymous sender, never map to the same stored key."""
    (first, second), (key, other) = subjects, keys

    assert scoped_key(key, first) != scoped_key(other, second)
    assert scoped_key(key, first) != other
    assert scoped_key(key, first).rpartition(SUBJECT_SEPARATOR) == (first, SUBJECT_SEPARATOR, key)


def test_after_the_window_the_same_key_stores_a_new_request(store, clock):
    ingest = IngestRequest(
        lambda: InMemoryUnitOfWork(store),
        SnowflakeIdGenerator(clock, node=3),
        clock,
        idempotency_window=timedelta(minutes=5),
    )
    first = ingest(BODY, "key-1")
    clock.advance(299.999)
    assert ingest(BODY, "key-1") == first
    clock.advance(0.001)

    second = ingest({**BODY, "prompt": "a new day"}, "key-1")

    assert second != first
    assert set(store.requests) == {first, second}
    assert store.idempotency_keys["key-1"].request_id == second


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "must not be empty"),
        ("k" * (KEY_MAX + 1), f"at most {KEY_MAX} characters"),
        (" leading", "start or end with a space"),
        ("trailing ", "start or end with a space"),
        (" ", "start or end with a space"),
        ("tab\tinside", "printable ASCII"),
        ("new\nline", "printable ASCII"),
        ("del\x7f", "printable ASCII"),
        ("nul\x00", "printable ASCII"),
        ("caf\xe9", "printable ASCII"),
        ("snow\u2603", "printable ASCII"),
    ],
)
def test_a_key_breaking_the_rules_is_refused_before_anything_is_stored(ingest, store, key, problem):
    with pytest.raises(InvalidIdempotencyKey, match=problem):
        ingest(BODY, key)

    assert store.requests == {}
    assert store.idempotency_keys == {}


def test_the_longest_key_and_every_printable_character_are_accepted(ingest, store):
    printable = "!" + "".join(map(chr, range(0x20, 0x7F)))

    ids = [ingest(BODY, "k" * KEY_MAX), ingest(BODY, printable)]

    assert len(set(ids)) == 2
    assert set(store.idempotency_keys) == {"k" * KEY_MAX, printable}


def test_an_invalid_body_leaves_its_key_free_for_a_valid_one(ingest, store):
    with pytest.raises(InvalidRequest):
        ingest({"user_id": ""}, "key-1")

    request_id = ingest(BODY, "key-1")

    assert list(store.requests) == [request_id]


def test_a_failed_commit_leaves_the_key_free(store, clock):
    class FailingCommit(InMemoryUnitOfWork):
        def commit(self) -> None:
            raise RuntimeError("the store went away during commit")

    failing = IngestRequest(lambda: FailingCommit(store), SnowflakeIdGenerator(clock, node=3), clock)
    with pytest.raises(RuntimeError):
        failing(BODY, "key-1")

    ingest = IngestRequest(lambda: InMemoryUnitOfWork(store), SnowflakeIdGenerator(clock, node=4), clock)
    request_id = ingest(BODY, "key-1")
    assert list(store.requests) == [request_id]
