"""The `ThirdPartyClient` contract, run against the in-memory third party and against the HTTP client on
a real WireMock playing the third party."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from adapters.http.third_party_client import Urllib3ThirdPartyClient
from adapters.memory.clock import ManualClock
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from domain.model.errors import ThirdPartyError, ThirdPartyRejected, ThirdPartyUnauthorized, ThirdPartyUnavailable
from domain.model.message import ThreeRequest
from domain.model.request import DataItem, OneRequest
from domain.model.token import AccessToken
from harness.wiremock import WireMock, any_three_request
from ports.third_party import ThirdPartyClient

REQUEST = ThreeRequest(
    id="00000000000000000042",
    metadata={"source": "cruncan-api", "user_id": "user-5"},
    one_request=OneRequest(user_id="user-5", prompt="Grüße 👋", data=(DataItem("k1", "15"),)),
)
RETRY_AFTER_S = 7
ANSWERS: dict[str, tuple[Callable[[], ThirdPartyError], dict[str, Any]]] = {
    "outage": (
        lambda: ThirdPartyUnavailable("the third party answered 503", retry_after=RETRY_AFTER_S),
        {"status": 503, "headers": {"Retry-After": str(RETRY_AFTER_S)}},
    ),
    "refusal": (lambda: ThirdPartyRejected("the third party answered 400"), {"status": 400}),
}


@dataclass
class ThirdParty:
    """A client, a token the third party accepts, what it accepted, and how to make its next answer fail."""

    client: ThirdPartyClient
    token: AccessToken
    accepted: Callable[[], list[dict[str, Any]]]
    answer_next: Callable[[str], None]


def memory_third_party() -> Iterator[ThirdParty]:
    issuer = InMemoryTokenIssuer(ManualClock())
    third_party = InMemoryThirdParty(issuer)

    def answer_next(kind: str) -> None:
        third_party.fail_next(1, ANSWERS[kind][0]())

    yield ThirdParty(
        third_party, issuer.fetch(), lambda: [request.to_json() for request in third_party.received], answer_next
    )


def wiremock_third_party(wiremock: WireMock) -> Iterator[ThirdParty]:
    clock = ManualClock()
    token = AccessToken("accepted-token", "Bearer", clock.now() + timedelta(hours=1))
    accepting = any_three_request(token.value)
    wiremock.stub(accepting, {"status": 200}, priority=2)
    wiremock.stub({"method": "POST", "url": "/three"}, {"status": 401}, priority=10)
    client = Urllib3ThirdPartyClient(wiremock.base_url, clock, connect_timeout_s=1.0, read_timeout_s=2.0)

    def accepted() -> list[dict[str, Any]]:
        return [
            json.loads(event["request"]["body"])
            for event in wiremock.served()
            if event["request"]["url"] == "/three" and 200 <= event["responseDefinition"]["status"] < 300
        ]

    def answer_next(kind: str) -> None:
        wiremock.stub_sequence(accepting, [ANSWERS[kind][1], {"status": 200}], priority=1)

    yield ThirdParty(client, token, accepted, answer_next)
    client.close()


@pytest.fixture(params=["memory", pytest.param("wiremock", marks=pytest.mark.wiremock)])
def third_party(request: pytest.FixtureRequest) -> Iterator[ThirdParty]:
    if request.param == "memory":
        yield from memory_third_party()
    else:
        yield from wiremock_third_party(request.getfixturevalue("wiremock"))


def test_an_accepted_request_arrives_once_as_its_json(third_party):
    third_party.client.send(REQUEST, third_party.token)

    assert third_party.accepted() == [REQUEST.to_json()]


def test_the_client_sends_a_request_again_when_asked_the_third_party_drops_duplicates(third_party):
    third_party.client.send(REQUEST, third_party.token)
    third_party.client.send(REQUEST, third_party.token)

    assert third_party.accepted() == [REQUEST.to_json()] * 2


def test_a_token_the_third_party_does_not_accept_is_unauthorized(third_party):
    stranger = AccessToken("not-issued-by-the-token-api", "Bearer", third_party.token.expires_at)

    with pytest.raises(ThirdPartyUnauthorized):
        third_party.client.send(REQUEST, stranger)
    assert third_party.accepted() == []


def test_an_outage_may_pass_and_says_when_to_try_again(third_party):
    third_party.answer_next("outage")

    with pytest.raises(ThirdPartyUnavailable) as raised:
        third_party.client.send(REQUEST, third_party.token)
    assert raised.value.retry_after == RETRY_AFTER_S
    third_party.client.send(REQUEST, third_party.token)
    assert third_party.accepted() == [REQUEST.to_json()]


def test_a_refusal_is_final_for_that_request(third_party):
    third_party.answer_next("refusal")

    with pytest.raises(ThirdPartyRejected):
        third_party.client.send(REQUEST, third_party.token)
    assert third_party.accepted() == []
