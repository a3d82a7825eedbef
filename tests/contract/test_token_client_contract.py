"""The `TokenClient` contract, run against the in-memory token issuer and against the HTTP client on a
real WireMock playing the token API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from adapters.http.token_client import Urllib3TokenClient
from adapters.memory.clock import ManualClock
from adapters.memory.third_party import InMemoryTokenIssuer
from domain.model.errors import TokenRefused, TokenUnavailable
from harness.wiremock import WireMock, token_request, token_response
from ports.tokens import TokenClient

LIFETIME_S = 1800
CLIENT_ID, CLIENT_SECRET = "cruncan", "contract-secret"
REFUSAL = {"status": 401, "jsonBody": {"error": "invalid_client"}}
OUTAGE = {"status": 503}


@dataclass
class TokenApi:
    """A token client, the clock it reads, how many fetches reached the API, and how to make the
    API's next answer a refusal or an outage."""

    client: TokenClient
    clock: ManualClock
    fetches: Callable[[], int]
    answer_next: Callable[[str], None]


def memory_api() -> Iterator[TokenApi]:
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, lifetime_s=LIFETIME_S)
    errors = {"outage": TokenUnavailable("the token API is unavailable"), "refusal": TokenRefused("bad credentials")}
    yield TokenApi(issuer, clock, lambda: issuer.fetches, lambda kind: issuer.fail_next(1, errors[kind]))


def wiremock_api(wiremock: WireMock) -> Iterator[TokenApi]:
    clock = ManualClock()
    request = token_request(CLIENT_ID, CLIENT_SECRET)
    issued = [token_response(f"token-{n}", expires_in=LIFETIME_S) for n in range(1, 4)]
    wiremock.stub_sequence(request, issued)
    client = Urllib3TokenClient(wiremock.base_url, CLIENT_ID, CLIENT_SECRET, clock, timeout_s=2.0)

    def answer_next(kind: str) -> None:
        wiremock.reset()
        wiremock.stub_sequence(request, [REFUSAL if kind == "refusal" else OUTAGE, *issued])

    yield TokenApi(client, clock, lambda: wiremock.count(request), answer_next)
    client.close()


@pytest.fixture(params=["memory", pytest.param("wiremock", marks=pytest.mark.wiremock)])
def api(request: pytest.FixtureRequest) -> Iterator[TokenApi]:
    if request.param == "memory":
        yield from memory_api()
    else:
        yield from wiremock_api(request.getfixturevalue("wiremock"))


def test_a_fetch_returns_a_bearer_token_that_expires_when_the_api_says(api):
    token = api.client.fetch()

    assert token.token_type.lower() == "bearer"
    assert token.value
    assert token.expires_at == api.clock.now() + timedelta(seconds=LIFETIME_S)
    assert token.value not in repr(token)


def test_every_fetch_asks_the_api_for_a_new_token(api):
    first, second = api.client.fetch(), api.client.fetch()

    assert first.value != second.value
    assert api.fetches() == 2


def test_an_api_outage_makes_the_token_unavailable_for_that_fetch_only(api):
    api.answer_next("outage")

    with pytest.raises(TokenUnavailable) as raised:
        api.client.fetch()
    assert not isinstance(raised.value, TokenRefused)
    assert api.client.fetch().value


def test_refused_credentials_make_the_token_refused(api):
    api.answer_next("refusal")

    with pytest.raises(TokenRefused):
        api.client.fetch()
