"""Fuzzing `POST /one` through the Flask app: whatever arrives, the answer is a 201 or a 4xx JSON
error, and what was accepted reads back through `GET` as the domain validated it."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model import request as rules
from domain.model.request import OneRequest
from entrypoints.api.app import create_app

pytestmark = pytest.mark.usefixtures("api_container")

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
ITEMS = st.fixed_dictionaries({"key": st.text(max_size=8), "value": st.text(max_size=8)}) | JSON_VALUES
NEARLY_VALID = st.fixed_dictionaries(
    {"user_id": st.text(max_size=rules.USER_ID_MAX + 2) | JSON_VALUES},
    optional={"prompt": st.text(max_size=40) | JSON_VALUES, "data": st.lists(ITEMS, max_size=3) | JSON_VALUES},
)
HEADER_TEXT = st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=300)


@pytest.fixture
def client(api_container):
    return create_app(api_container).test_client()


def post(client, data, **headers):
    return client.post("/one", data=data, content_type="application/json", headers=headers)


def assert_json_answer(response, allowed):
    assert response.status_code in allowed, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    if response.status_code >= 400:
        assert set(response.json) >= {"error", "detail"}


@FUZZ
@given(body=JSON_VALUES | NEARLY_VALID)
def test_any_json_value_is_stored_as_validated_or_refused_with_a_400(client, body):
    response = post(client, json.dumps(body))

    assert_json_answer(response, {201, 400})
    if response.status_code == 201:
        read = client.get(response.headers["Location"])
        assert read.status_code == 200
        assert read.json["request"] == OneRequest.from_json(body).to_json()


@FUZZ
@given(data=st.binary(max_size=300) | JSON_VALUES.map(lambda value: json.dumps(value).encode()[:-1]))
def test_any_bytes_are_refused_with_a_400_or_stored(client, data):
    assert_json_answer(post(client, data), {201, 400})


@FUZZ
@given(body=NEARLY_VALID, key=HEADER_TEXT)
def test_any_idempotency_key_is_answered_without_a_5xx(client, body, key):
    first = post(client, json.dumps(body), **{"Idempotency-Key": key})
    again = post(client, json.dumps(body), **{"Idempotency-Key": key})

    assert_json_answer(first, {201, 400, 422})
    assert_json_answer(again, {first.status_code} if first.status_code != 422 else {422})
    if first.status_code == 201:
        assert again.json == first.json
