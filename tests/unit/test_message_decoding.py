"""Whatever bytes arrive on the topic, decoding yields a valid request message or `UndecodableMessage`."""

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.model.message import RequestMessage, UndecodableMessage
from domain.model.request import OneRequest
from domain.model.snowflake import is_snowflake
from tests.unit.test_consume_forwarding import DLQ, TOPIC, Flow, wait_until

VALID_ID = "00000000000000000042"
BODY = {"user_id": "u", "prompt": "p", "data": []}


def payload(request_id: object, body: object = BODY) -> bytes:
    return json.dumps({"request_id": request_id, "request": body}).encode()


@pytest.mark.parametrize(
    "request_id",
    [
        "0000000000000000004\x00",
        "\x00",
        "42",
        "000000000000000000420",
        "0000000000000000004a",
        "٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠٤٢",  # Arabic-Indic digits pass str.isdigit but are no request ID
        " 0000000000000000042",
        "x" * 100_000,
        42,
    ],
)
def test_a_request_id_that_cannot_be_one_is_undecodable(request_id):
    with pytest.raises(UndecodableMessage, match="request_id"):
        RequestMessage.decode(payload(request_id))


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"request_id": "00000000000000000042", "request": ' + b"[" * 100_000,
        b'{"request_id": "00000000000000000042", "request": {"user_id": "u", "n": ' + b"9" * 5000 + b"}}",
        b'{"request_id": "00000000000000000042", "request": {"user_id": "\\u0000"}}',
        b'{"request_id": "00000000000000000042", "request": {"user_id": "\\ud800"}}',
        b'{"request_id": "00000000000000000042", "request": {"user_id": "' + b"u" * 129 + b'"}}',
        b"\xff\xfe",
    ],
)
def test_hostile_payloads_are_undecodable(raw):
    with pytest.raises(UndecodableMessage):
        RequestMessage.decode(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
request_ids = st.text(max_size=25) | st.from_regex(r"\A[0-9]{20}\Z") | json_values
documents = st.fixed_dictionaries({"request_id": request_ids, "request": st.just(BODY) | json_values}) | json_values


@given(st.binary(max_size=200) | documents.map(lambda doc: json.dumps(doc).encode()))
def test_decoding_any_payload_yields_a_valid_message_or_undecodable(raw):
    try:
        message = RequestMessage.decode(raw)
    except UndecodableMessage as refusal:
        refused = refusal
    else:
        assert is_snowflake(message.request_id)
        assert OneRequest.from_json(message.body.to_json()) == message.body
        return
    assert str(refused)


def test_a_message_with_a_nul_in_its_request_id_is_dead_lettered_as_undecodable():
    flow = Flow()
    poison = payload("0000000000000000004\x00")
    flow.broker.append(TOPIC, "poison", poison)
    stop = threading.Event()
    worker = threading.Thread(target=flow.loop.run, args=(stop,))
    worker.start()
    wait_until(lambda: flow.committed() == 1, "the message committed")
    stop.set()
    worker.join(10)

    letters = flow.broker.records(DLQ)
    assert [(letter.value, letter.headers["cruncan.dlq.cause"]) for letter in letters] == [(poison, "undecodable")]
    assert flow.store.requests == {}
    assert flow.third_party.received == []


@pytest.mark.parametrize("name", ["x" * 100_000, "\n" * 100_000, "é" * 100_000])
def test_an_unknown_field_of_any_length_is_named_in_one_short_line(name):
    raw = json.dumps({"request_id": VALID_ID, "request": {"user_id": "u", name: 1}}).encode()

    with pytest.raises(UndecodableMessage) as refused:
        RequestMessage.decode(raw)

    assert "is not a known field" in str(refused.value)
    assert len(str(refused.value)) < 300, "a dead letter's log line and reason stay short"
    assert "\n" not in str(refused.value)
