import json

import pytest

from domain.model.message import RequestMessage

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def test_post_answers_201_with_the_id_and_its_location(client, api_container):
    response = client.post("/one", json=BODY)

    assert response.status_code == 201
    request_id = response.json["request_id"]
    assert response.headers["Location"] == f"/one/{request_id}"
    store = api_container.storage.memory_store()
    assert store.requests[request_id].body.to_json() == BODY
    assert [RequestMessage.decode(m.payload).request_id for m in store.outbox.values()] == [request_id]


def test_get_shows_the_stored_request_and_its_status(client):
    location = client.post("/one", json=BODY).headers["Location"]

    response = client.get(location)

    assert response.status_code == 200
    assert response.json["request"] == BODY
    assert response.json["status"] == "accepted"
    assert response.json["failure_reason"] is None
    assert response.json["created_at"] == response.json["updated_at"]


def test_an_unknown_id_is_404(client):
    response = client.get("/one/00000000000000000001")

    assert response.status_code == 404
    assert response.json == {"error": "not_found", "detail": "no request with id '00000000000000000001'"}


@pytest.mark.parametrize(
    ("data", "content_type", "status", "error", "detail"),
    [
        ('{"user_id": ', "application/json", 400, "malformed_json", "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "malformed_json", "not valid JSON"),
        ("", "application/json", 400, "malformed_json", "not valid JSON"),
        ('{"user_id": ""}', "application/json", 400, "invalid_request", "user_id: must not be empty"),
        ('{"user_id": "u", "data": [{"key": "k"}]}', "application/json", 400, "invalid_request", "data[0].value"),
        ("[]", "application/json", 400, "invalid_request", "body: must be a JSON object"),
        ('{"user_id": "u"}', "text/plain", 415, "unsupported_media_type", "must be application/json"),
        ('{"user_id": "u"}', None, 415, "unsupported_media_type", "must be application/json"),
        (json.dumps({"user_id": "u", "prompt": "x" * 5000}), "application/json", 413, "body_too_large", "4096"),
    ],
)
def test_bad_input_gets_a_json_error_naming_the_problem(
    client, api_container, data, content_type, status, error, detail
):
    response = client.post("/one", data=data, content_type=content_type)

    assert response.status_code == status
    assert response.json["error"] == error
    assert detail in response.json["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert api_container.storage.memory_store().requests == {}


def test_an_invalid_field_is_named_apart_from_the_detail(client):
    response = client.post("/one", json={"user_id": "u", "extra": 1})

    assert response.json == {"error": "invalid_request", "detail": "extra: is not a known field", "field": "extra"}


def test_an_unknown_route_is_a_json_404(client):
    response = client.get("/two")

    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_a_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/one")

    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_health_endpoints_answer_in_memory(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready", "checks": {"store": "ok"}}


def test_an_unexpected_error_is_a_json_500_without_a_stack_trace(client, api_container):
    with api_container.query.override(lambda request_id: 1 / 0):
        response = client.get("/one/00000000000000000001")

    assert response.status_code == 500
    assert response.json == {"error": "internal_error", "detail": "the server failed to handle the request"}


def test_a_lone_surrogate_is_a_400_not_a_500(client):
    response = client.post("/one", data='{"user_id": "\\ud800"}', content_type="application/json")

    assert response.status_code == 400
    assert response.json["field"] == "user_id"
