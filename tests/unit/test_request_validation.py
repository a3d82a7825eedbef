import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model import request as rules
from domain.model.errors import InvalidRequest
from domain.model.request import DataItem, OneRequest


def test_a_full_body_is_accepted_as_given():
    body = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}

    request = OneRequest.from_json(body)

    assert request == OneRequest("user-1", "hello", (DataItem("k", "v"),))
    assert request.to_json() == body


def test_prompt_and_data_are_optional():
    assert OneRequest.from_json({"user_id": "u"}).to_json() == {"user_id": "u", "prompt": "", "data": []}


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ([], "body", "must be a JSON object"),
        (None, "body", "must be a JSON object"),
        ({}, "user_id", "is required"),
        ({"user_id": ""}, "user_id", "must not be empty"),
        ({"user_id": "   "}, "user_id", "must not be empty"),
        ({"user_id": 7}, "user_id", "must be a string"),
        ({"user_id": "u" * (rules.USER_ID_MAX + 1)}, "user_id", f"must be at most {rules.USER_ID_MAX} characters"),
        ({"user_id": "u", "prompt": None}, "prompt", "must be a string"),
        ({"user_id": "u", "prompt": "p" * (rules.PROMPT_MAX + 1)}, "prompt", "must be at most"),
        ({"user_id": "u", "data": {}}, "data", "must be an array"),
        ({"user_id": "u", "data": [{"key": "k", "value": "v"}] * 101}, "data", "at most 100 items"),
        ({"user_id": "u", "data": ["x"]}, "data[0]", "must be a JSON object"),
        ({"user_id": "u", "data": [{"key": "k"}]}, "data[0].value", "is required"),
        ({"user_id": "u", "data": [{"key": "", "value": "v"}]}, "data[0].key", "must not be empty"),
        ({"user_id": "u", "data": [{"key": "k", "value": 1}]}, "data[0].value", "must be a string"),
        ({"user_id": "u", "data": [{"key": "k", "value": "v", "x": 1}]}, "data[0].x", "is not a known field"),
        ({"user_id": "u", "extra": True}, "extra", "is not a known field"),
    ],
)
def test_a_broken_rule_names_the_offending_field(body, field, problem):
    with pytest.raises(InvalidRequest) as caught:
        OneRequest.from_json(body)

    assert caught.value.field == field
    assert problem in caught.value.problem


def test_values_at_the_limits_are_accepted():
    body = {
        "user_id": "u" * rules.USER_ID_MAX,
        "prompt": "p" * rules.PROMPT_MAX,
        "data": [{"key": "k" * rules.KEY_MAX, "value": "v" * rules.VALUE_MAX}] * rules.DATA_ITEMS_MAX,
    }

    assert OneRequest.from_json(body).to_json() == body


texts = st.text(max_size=40)
bodies = st.fixed_dictionaries(
    {
        "user_id": st.text(min_size=1, max_size=rules.USER_ID_MAX).filter(str.strip),
        "prompt": texts,
        "data": st.lists(st.fixed_dictionaries({"key": st.text(min_size=1, max_size=20), "value": texts}), max_size=5),
    }
)


@given(bodies)
def test_any_valid_body_survives_a_round_trip(body):
    assert OneRequest.from_json(body).to_json() == body
