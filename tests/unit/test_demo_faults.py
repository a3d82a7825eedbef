"""The demo's fault settings: what the parser accepts and refuses, and what the stand-in then does."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.third_party import InMemoryThirdParty
from domain.model.errors import ThirdPartyRejected, ThirdPartyUnavailable
from domain.model.message import ThreeRequest
from domain.model.request import OneRequest
from domain.model.token import AccessToken
from entrypoints.demo.faults import (
    DELAY_MS_MAX,
    FIELDS,
    Faults,
    FaultSwitch,
    FaultyThirdParty,
    InvalidFaults,
    parse_faults,
)
from tests.contract.examples import T0

shares = st.floats(min_value=0, max_value=1) | st.integers(min_value=0, max_value=1)
delays = st.integers(min_value=0, max_value=DELAY_MS_MAX)
valid = st.fixed_dictionaries({}, optional={"unavailable_share": shares, "delay_ms": delays, "reject": st.booleans()})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)


@given(valid)
def test_every_valid_document_is_taken_as_given_and_a_left_out_key_is_off(document: dict[str, object]) -> None:
    faults = parse_faults(document)

    assert faults.unavailable_share == float(document.get("unavailable_share", 0.0))
    assert faults.delay_ms == document.get("delay_ms", 0)
    assert faults.reject is document.get("reject", False)
    assert parse_faults(json.loads(json.dumps(faults.to_json()))) == faults


@given(json_values)
def test_any_json_value_is_either_valid_faults_or_refused_naming_a_field(document: object) -> None:
    refused: InvalidFaults | None = None
    try:
        faults = parse_faults(document)
    except InvalidFaults as exc:
        refused = exc
    if refused is None:
        assert 0 <= faults.unavailable_share <= 1
        assert 0 <= faults.delay_ms <= DELAY_MS_MAX
        return
    named = {*FIELDS, "body", *(map(str, document) if isinstance(document, dict) else ())}
    assert refused.field in named
    assert str(refused).startswith(f"{refused.field}: ")


@given(valid, st.sampled_from(FIELDS), json_values)
def test_a_value_of_the_wrong_kind_or_out_of_range_is_refused_naming_its_key(
    document: dict[str, object], key: str, value: object
) -> None:
    fits = {
        "unavailable_share": lambda v: type(v) in (int, float) and math.isfinite(v) and 0 <= v <= 1,
        "delay_ms": lambda v: type(v) is int and 0 <= v <= DELAY_MS_MAX,
        "reject": lambda v: type(v) is bool,
    }[key]
    if fits(value):
        return
    with pytest.raises(InvalidFaults) as refused:
        parse_faults({**document, key: value})
    assert refused.value.field == key


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], "body"),
        ("reject", "body"),
        (None, "body"),
        ({"unavailable_share": math.nan}, "unavailable_share"),
        ({"unavailable_share": math.inf}, "unavailable_share"),
        ({"unavailable_share": 1.0000001}, "unavailable_share"),
        ({"unavailable_share": -0.1}, "unavailable_share"),
        ({"unavailable_share": "0.5"}, "unavailable_share"),
        ({"unavailable_share": True}, "unavailable_share"),
        ({"delay_ms": 5001}, "delay_ms"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": 1.5}, "delay_ms"),
        ({"delay_ms": 10**400}, "delay_ms"),
        ({"delay_ms": False}, "delay_ms"),
        ({"reject": 1}, "reject"),
        ({"reject": "true"}, "reject"),
        ({"reject": True, "retry": 3}, "retry"),
    ],
)
def test_hostile_settings_are_refused_naming_the_field(document: object, field: str) -> None:
    with pytest.raises(InvalidFaults) as refused:
        parse_faults(document)
    assert refused.value.field == field


REQUEST = ThreeRequest(id="1", metadata={}, one_request=OneRequest("user-1", "hello"))
TOKEN = AccessToken("t", "Bearer", T0)


def faulty(faults: Faults, chance: float = 0.5) -> tuple[FaultyThirdParty, InMemoryThirdParty, list[float]]:
    inner, slept = InMemoryThirdParty(), []
    switch = FaultSwitch()
    switch.set(faults)
    return FaultyThirdParty(inner, switch, chance=lambda: chance, sleep=slept.append), inner, slept


def test_with_no_faults_every_request_reaches_the_third_party_at_once() -> None:
    client, inner, slept = faulty(Faults())
    client.send(REQUEST, TOKEN)
    assert inner.received == [REQUEST]
    assert slept == []


def test_a_share_of_requests_is_answered_unavailable_by_chance() -> None:
    unlucky, inner, _ = faulty(Faults(unavailable_share=0.6), chance=0.59)
    with pytest.raises(ThirdPartyUnavailable):
        unlucky.send(REQUEST, TOKEN)
    assert inner.received == []

    lucky, inner, _ = faulty(Faults(unavailable_share=0.6), chance=0.6)
    lucky.send(REQUEST, TOKEN)
    assert inner.received == [REQUEST]


def test_rejecting_wins_over_the_share_and_comes_after_the_delay() -> None:
    client, inner, slept = faulty(Faults(unavailable_share=1.0, delay_ms=250, reject=True), chance=0.0)
    with pytest.raises(ThirdPartyRejected, match="demo fault: reject"):
        client.send(REQUEST, TOKEN)
    assert slept == [0.25]
    assert inner.received == []
