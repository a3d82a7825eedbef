"""Bodies built to break the JSON decoder get a 400 naming the problem, never a 500."""

import json

import pytest

from adapters.telemetry.providers import Telemetry
from entrypoints.api.container import build_container
from entrypoints.settings import load_settings

NESTED_ARRAYS = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
def api_container():
    """The API with the shipped body limit (1 MiB), room for the bodies below."""
    container = build_container(load_settings(environ={}), Telemetry.disabled("cruncan-api"))
    yield container
    container.unwire()


def post(client, data):
    return client.post("/one", data=data, content_type="application/json")


@pytest.mark.parametrize(
    "data",
    [
        NESTED_ARRAYS,
        b'{"user_id": "u", "data": ' + b"[" * 1_000 + b"]" * 1_000 + b"}",
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    ],
    ids=["100000 arrays", "1000 arrays in a member", "5000 objects"],
)
def test_a_body_nested_too_deeply_is_a_400(api_container, client, data):
    response = post(client, data)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json == {"error": "malformed_json", "detail": "the body nests arrays or objects too deeply"}


@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_too_long_for_python_is_a_400(client, sign):
    response = post(client, f'{{"user_id": "u", "extra": {sign}{"9" * 4_301}}}')

    assert response.status_code == 400
    assert response.json == {
        "error": "malformed_json",
        "detail": "the body holds an integer of more than 4300 digits",
    }


def test_an_integer_of_4300_digits_is_read_and_refused_by_the_rules(client):
    response = post(client, f'{{"user_id": {"9" * 4_300}}}')

    assert (response.status_code, response.json["field"]) == (400, "user_id")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ('{"user_id": "a", "user_id": "b"}', "user_id"),
        ('{"user_id": "a", "data": [{"key": "k", "value": "v", "key": "j"}]}', "key"),
        ('{"user_id": "a", "prompt": {"x": 1, "x": 1}}', "x"),
        ('[{"": 1, "": 2}]', ""),
    ],
)
def test_a_key_repeated_in_any_object_is_a_400_naming_it(client, api_container, data, key):
    response = post(client, data)

    assert response.status_code == 400
    assert response.json == {"error": "duplicate_key", "detail": f"an object repeats the key {json.dumps(key)}"}
    assert api_container.storage.memory_store().requests == {}


def test_a_long_repeated_key_is_named_shortened(client):
    key = "k" * 10_000

    response = post(client, json.dumps({key: 1})[:-1] + f', "{key}": 2}}')

    assert response.status_code == 400
    assert response.json["detail"] == f'an object repeats the key "{"k" * 64}..."'


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_constants_that_are_not_json_are_a_400(client, constant):
    response = post(client, f'{{"user_id": "u", "extra": {constant}}}')

    assert response.status_code == 400
    assert response.json == {
        "error": "malformed_json",
        "detail": f"the body is not valid JSON: {constant} is not a JSON value",
    }


@pytest.mark.parametrize(
    "data",
    ['{"user_id": "u"}'.encode("utf-16"), b'\xef\xbb\xbf{"user_id": "u"}', b'{"user_id": "\xff"}'],
    ids=["utf-16", "utf-8 BOM", "invalid utf-8"],
)
def test_a_body_that_is_not_utf8_json_is_a_400(client, data):
    response = post(client, data)

    assert response.status_code == 400
    assert response.json["error"] == "malformed_json"
