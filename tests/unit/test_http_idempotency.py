"""`POST /one` with an `Idempotency-Key` header, through the Flask app on the in-memory store."""

import pytest

from adapters.memory.store import InMemoryUnitOfWork

BODY = {"user_id": "user-1", "prompt": "hello"}


def post(client, body=BODY, **headers):
    return client.post("/one", json=body, headers=headers)


def test_a_retry_gets_the_same_201_and_location_and_nothing_new_is_stored(client, api_container):
    first = post(client, **{"Idempotency-Key": "order-42"})
    retried = post(client, **{"Idempotency-Key": "order-42"})

    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.json == first.json
    assert retried.headers["Location"] == first.headers["Location"]
    store = api_container.storage.memory_store()
    assert list(store.requests) == [first.json["request_id"]]
    assert len(store.outbox) == 1


def test_the_same_key_with_another_body_is_a_422(client, api_container):
    post(client, **{"Idempotency-Key": "order-42"})

    response = post(client, {**BODY, "prompt": "other"}, **{"Idempotency-Key": "order-42"})

    assert response.status_code == 422
    assert response.json == {
        "error": "idempotency_key_reused",
        "detail": "this Idempotency-Key was already used with a different body",
    }
    assert len(api_container.storage.memory_store().requests) == 1


def test_the_same_key_while_its_first_request_is_in_flight_is_a_409_with_retry_after(client, api_container):
    store = api_container.storage.memory_store()
    with InMemoryUnitOfWork(store) as in_flight:
        in_flight.idempotency_keys.claim("order-42", api_container.core.clock().now())

        response = post(client, **{"Idempotency-Key": "order-42"})

    assert response.status_code == 409
    assert response.json["error"] == "idempotency_key_in_use"
    assert int(response.headers["Retry-After"]) >= 1
    assert store.requests == {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("k" * 256, "must be at most 255 characters"),
        ("caf\xe9", "must be printable ASCII (space to '~')"),
        ("a\x7fb", "must be printable ASCII (space to '~')"),
    ],
)
def test_a_key_breaking_the_rules_is_a_400_naming_the_header(client, api_container, value, problem):
    response = post(client, **{"Idempotency-Key": value})

    assert response.status_code == 400
    assert response.json == {"error": "invalid_idempotency_key", "detail": f"the Idempotency-Key header {problem}"}
    assert api_container.storage.memory_store().requests == {}


def test_a_key_sent_twice_arrives_joined_as_one_key(client, api_container):
    """WSGI joins repeated header lines with ", " (RFC 9110, 5.3): a client sending the key twice
    sends the key "a, a", which a retry sending it twice again matches."""
    twice = [("Idempotency-Key", "a"), ("Idempotency-Key", "a")]

    first = client.post("/one", json=BODY, headers=twice)
    retried = client.post("/one", json=BODY, headers=[("Idempotency-Key", "a, a")])

    assert (first.status_code, retried.json) == (201, first.json)
    assert list(api_container.storage.memory_store().idempotency_keys) == ["a, a"]
