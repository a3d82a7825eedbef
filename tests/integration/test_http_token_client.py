import base64
from datetime import timedelta

import pytest

from adapters.http.token_client import Urllib3TokenClient
from adapters.memory.clock import ManualClock
from domain.model.errors import TokenRefused, TokenUnavailable
from domain.model.retry import RetryPolicy
from domain.services.tokens import TokenCache
from harness.wiremock import token_request, token_response

pytestmark = pytest.mark.wiremock

CLIENT_ID = "cruncan"
CLIENT_SECRET = "s3cret-Value_42"
ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcnVuY2FuIn0.c2lnbmF0dXJl"


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def client(wiremock, clock):
    client = Urllib3TokenClient(wiremock.base_url, CLIENT_ID, CLIENT_SECRET, clock, timeout_s=2.0)
    yield client
    client.close()


@pytest.mark.parametrize("expires_in", [3600, "3600", 3600.0, "3600.0"])
def test_a_token_is_fetched_with_the_exact_client_credentials_request(wiremock, client, clock, expires_in):
    wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), token_response(ACCESS_TOKEN, expires_in=expires_in))

    token = client.fetch()

    assert token.value == ACCESS_TOKEN
    assert token.token_type == "Bearer"
    assert token.expires_at == clock.now() + timedelta(seconds=3600)
    [sent] = wiremock.requests()
    assert sent["body"] == "grant_type=client_credentials&scope=general"
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"cruncan:s3cret-Value_42").decode()
    assert sent["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_the_scope_comes_from_configuration(wiremock, clock):
    wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET, scope="reports"), token_response(ACCESS_TOKEN))
    client = Urllib3TokenClient(wiremock.base_url + "/", CLIENT_ID, CLIENT_SECRET, clock, scope="reports")

    assert client.fetch().value == ACCESS_TOKEN
    assert wiremock.count(token_request(CLIENT_ID, CLIENT_SECRET, scope="reports")) == 1


def test_credentials_are_form_encoded_before_basic_encoding(wiremock, clock):
    wiremock.stub({"method": "POST", "url": "/v2/oauth/token"}, token_response(ACCESS_TOKEN))
    client = Urllib3TokenClient(wiremock.base_url, "team:cruncan", "p@ss word", clock)

    client.fetch()

    [sent] = wiremock.requests()
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"team%3Acruncan:p%40ss+word").decode()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TokenUnavailable),
        (503, TokenUnavailable),
        (429, TokenUnavailable),
        (400, TokenRefused),
        (401, TokenRefused),
    ],
)
def test_error_statuses_say_whether_asking_again_may_help(wiremock, client, status, error):
    body = {"error": "invalid_client", "error_description": f"client {CLIENT_ID} / {CLIENT_SECRET} unknown"}
    wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), {"status": status, "jsonBody": body})

    with pytest.raises(error) as raised:
        client.fetch()

    assert str(raised.value).startswith(f"the token API answered {status} ")
    assert str(raised.value).endswith("(invalid_client)")
    assert CLIENT_SECRET not in str(raised.value)
    assert type(raised.value) is error


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        ({"body": "<html>gateway</html>"}, "not JSON"),
        ({"jsonBody": ["token"]}, "not an object"),
        ({"jsonBody": {"token_type": "Bearer", "expires_in": 60}}, "access_token"),
        ({"jsonBody": {"access_token": "has space", "token_type": "Bearer", "expires_in": 60}}, "access_token"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "expires_in": 60}}, "token_type"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "token_type": "mac", "expires_in": 60}}, "token_type"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "token_type": "Bearer"}}, "expires_in"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": "soon"}}, "expires_in"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": -5}}, "expires_in"),
        ({"jsonBody": {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": True}}, "expires_in"),
    ],
)
def test_a_malformed_token_response_is_a_clear_error_without_the_token(wiremock, client, response, problem):
    wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), {"status": 200, **response})

    with pytest.raises(TokenUnavailable, match=problem) as raised:
        client.fetch()

    assert ACCESS_TOKEN not in str(raised.value)


def test_an_unreachable_token_api_is_unavailable(clock):
    client = Urllib3TokenClient("http://127.0.0.1:1", CLIENT_ID, CLIENT_SECRET, clock, timeout_s=1.0)

    with pytest.raises(TokenUnavailable, match="cannot be reached"):
        client.fetch()


def test_a_slow_token_api_times_out_as_unavailable(wiremock, clock):
    slow = {**token_response(ACCESS_TOKEN), "fixedDelayMilliseconds": 2000}
    wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), slow)
    client = Urllib3TokenClient(wiremock.base_url, CLIENT_ID, CLIENT_SECRET, clock, timeout_s=0.3)

    with pytest.raises(TokenUnavailable, match="timed out"):
        client.fetch()


def test_the_client_never_shows_its_secret(wiremock, client):
    assert CLIENT_SECRET not in repr(client)
    assert CLIENT_SECRET not in str(client)
    assert wiremock.base_url in repr(client)


def test_the_token_cache_rides_out_a_token_api_failing_twice(wiremock, client, clock):
    failure = {"status": 503, "headers": {"Retry-After": "1"}}
    wiremock.stub_sequence(token_request(CLIENT_ID, CLIENT_SECRET), [failure, failure, token_response(ACCESS_TOKEN)])
    cache = TokenCache(client, clock, retry=RetryPolicy(0.1, 5.0, 5))

    first, second = cache.get(), cache.get()

    assert first.value == second.value == ACCESS_TOKEN
    assert wiremock.count(token_request(CLIENT_ID, CLIENT_SECRET)) == 3
    assert clock.slept == [0.1, 0.2]
