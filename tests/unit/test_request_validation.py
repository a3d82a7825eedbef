import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model import request as rules
from domain.model.errors import InvalidRequest
from domain.model.message import RequestMessage
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
        ({"user_id": "u", "": True}, 'body[""]', "is not a known field"),
        ({"user_id": "u\x00"}, "user_id", "must not contain NUL characters"),
        ({"user_id": "u", "prompt": "\ud800"}, "prompt", "no lone surrogates"),
        ({"user_id": "u", "data": [{"key": "k", "value": "\udfff"}]}, "data[0].value", "no lone surrogates"),
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


texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
bodies = st.fixed_dictionaries(
    {
        "user_id": st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=rules.USER_ID_MAX
        ).filter(str.strip),
        "prompt": texts,
        "data": st.lists(st.fixed_dictionaries({"key": texts.filter(bool), "value": texts}), max_size=5),
    }
)


@given(bodies)
def test_any_valid_body_survives_a_round_trip(body):
    assert OneRequest.from_json(body).to_json() == body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
near_valid = st.fixed_dictionaries(
    {"user_id": json_values | st.text(max_size=5)},
    optional={"prompt": json_values, "data": json_values | st.lists(json_values, max_size=3)},
)


@given(json_values | near_valid)
def test_any_json_document_is_either_a_request_or_a_named_refusal(document):
    try:
        request = OneRequest.from_json(document)
    except InvalidRequest as refusal:
        refused = refusal
    else:
        assert RequestMessage(request_id="00000000000000000001", body=request).encode()
        return
    assert refused.field
    assert refused.problem
