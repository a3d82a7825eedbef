import json
from datetime import timedelta
from email.utils import format_datetime

import pytest

from adapters.http.third_party_client import Urllib3ThirdPartyClient
from adapters.memory.clock import ManualClock
from domain.model.errors import ThirdPartyRejected, ThirdPartyUnauthorized, ThirdPartyUnavailable
from domain.model.message import ThreeRequest
from domain.model.request import OneRequest
from domain.model.token import AccessToken
from harness.wiremock import three_request

pytestmark = pytest.mark.wiremock

ACCESS_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcnVuY2FuIn0.c2lnbmF0dXJl"
EXPECTED_BODY = {
    "id": "00000000000000000042",
    "metadata": {"source": "cruncan-api", "user_id": "old-usr-5"},
    "one_request": {
        "user_id": "old-usr-5",
        "prompt": "What is the value of k1? Grüße 👋",
        "data": [{"key": "k1", "value": "15"}, {"key": "k2", "value": "g3"}],
    },
}
REQUEST = ThreeRequest(
    id="00000000000000000042",
    metadata={"source": "cruncan-api", "user_id": "old-usr-5"},
    one_request=OneRequest.from_json(EXPECTED_BODY["one_request"]),
)
ANY_THREE = {"method": "POST", "url": "/three"}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def token(clock):
    return AccessToken(ACCESS_TOKEN, "Bearer", clock.now() + timedelta(hours=1))


@pytest.fixture
def client(wiremock, clock):
    client = Urllib3ThirdPartyClient(wiremock.base_url, clock, connect_timeout_s=1.0, read_timeout_s=0.5, pool_size=2)
    yield client
    client.close()


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_request_is_sent_exactly_as_the_third_party_expects(wiremock, client, token, status):
    wiremock.stub(three_request(EXPECTED_BODY, ACCESS_TOKEN), {"status": status})

    client.send(REQUEST, token)

    assert wiremock.count(three_request(EXPECTED_BODY, ACCESS_TOKEN)) == 1
    [sent] = wiremock.requests()
    assert sent["headers"]["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert json.loads(sent["body"]) == EXPECTED_BODY


def test_connections_are_reused_across_requests(wiremock, client, token):
    wiremock.stub(three_request(EXPECTED_BODY, ACCESS_TOKEN), {"status": 200})

    for _ in range(5):
        client.send(REQUEST, token)

    assert wiremock.count(three_request(EXPECTED_BODY, ACCESS_TOKEN)) == 5


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_may_pass(wiremock, client, token, status):
    wiremock.stub(ANY_THREE, {"status": status})

    with pytest.raises(ThirdPartyUnavailable, match=f"answered {status} ") as raised:
        client.send(REQUEST, token)

    assert raised.value.retry_after is None


def test_429_carries_retry_after_in_seconds(wiremock, client, token):
    wiremock.stub(ANY_THREE, {"status": 429, "headers": {"Retry-After": "7"}})

    with pytest.raises(ThirdPartyUnavailable, match="429 Too Many Requests") as raised:
        client.send(REQUEST, token)

    assert raised.value.retry_after == 7.0


def test_503_carries_retry_after_as_an_http_date(wiremock, client, token, clock):
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    wiremock.stub(ANY_THREE, {"status": 503, "headers": {"Retry-After": when}})

    with pytest.raises(ThirdPartyUnavailable) as raised:
        client.send(REQUEST, token)

    assert raised.value.retry_after == 30.0


def test_401_means_the_token_was_rejected(wiremock, client, token):
    wiremock.stub(ANY_THREE, {"status": 401, "body": f"token {ACCESS_TOKEN} is not valid"})

    with pytest.raises(ThirdPartyUnauthorized) as raised:
        client.send(REQUEST, token)

    assert ACCESS_TOKEN not in str(raised.value)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 301])
def test_other_statuses_are_refusals(wiremock, client, token, status):
    wiremock.stub(ANY_THREE, {"status": status, "headers": {"Location": "/elsewhere"}})

    with pytest.raises(ThirdPartyRejected, match=f"answered {status} "):
        client.send(REQUEST, token)


def test_a_refused_connection_may_pass(clock, token):
    client = Urllib3ThirdPartyClient("http://127.0.0.1:1", clock, connect_timeout_s=1.0)

    with pytest.raises(ThirdPartyUnavailable, match="cannot be reached") as raised:
        client.send(REQUEST, token)

    assert ACCESS_TOKEN not in str(raised.value)


def test_a_read_timeout_may_pass(wiremock, client, token):
    wiremock.stub(ANY_THREE, {"status": 200, "fixedDelayMilliseconds": 2000})

    with pytest.raises(ThirdPartyUnavailable, match="timed out"):
        client.send(REQUEST, token)


@pytest.mark.parametrize("fault", ["CONNECTION_RESET_BY_PEER", "EMPTY_RESPONSE", "MALFORMED_RESPONSE_CHUNK"])
def test_a_broken_connection_may_pass(wiremock, client, token, fault):
    wiremock.stub(ANY_THREE, {"fault": fault})

    with pytest.raises(ThirdPartyUnavailable, match="cannot be reached"):
        client.send(REQUEST, token)


def test_a_request_id_unfit_for_a_header_is_refused_without_sending(wiremock, client, token):
    wiremock.stub(ANY_THREE, {"status": 200})
    bad = ThreeRequest(id="42\r\nX-Injected: yes", metadata={}, one_request=REQUEST.one_request)

    with pytest.raises(ThirdPartyRejected, match="Idempotency-Key"):
        client.send(bad, token)

    assert wiremock.requests() == []


def test_a_token_unfit_for_a_header_is_rejected_without_showing_it(wiremock, client, clock):
    wiremock.stub(ANY_THREE, {"status": 200})
    bad = AccessToken("secret\r\nX-Injected: yes", "Bearer", clock.now() + timedelta(hours=1))

    with pytest.raises(ThirdPartyUnauthorized) as raised:
        client.send(REQUEST, bad)

    assert "secret" not in str(raised.value)
    assert wiremock.requests() == []


def test_a_503_then_a_200_succeeds_on_the_second_send(wiremock, client, token):
    wiremock.stub_sequence(three_request(EXPECTED_BODY, ACCESS_TOKEN), [{"status": 503}, {"status": 200}])

    with pytest.raises(ThirdPartyUnavailable):
        client.send(REQUEST, token)
    client.send(REQUEST, token)

    assert wiremock.count(three_request(EXPECTED_BODY, ACCESS_TOKEN)) == 2
