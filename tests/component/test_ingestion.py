"""Steps of `ingestion.feature`: POST /one on the real Postgres and broker."""

from __future__ import annotations

import json
import re

import pytest
import urllib3
from pytest_bdd import given, parsers, scenarios, then, when

from domain.model.message import RequestMessage
from harness.kafka import published_keys, read_messages
from harness.polling import eventually
from tests.component.conftest import MAX_BODY_BYTES, RunningApi

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

scenarios("ingestion.feature")


def request_body(user_id: str, prompt: str = "hello") -> bytes:
    return json.dumps({"user_id": user_id, "prompt": prompt, "data": [{"key": "k", "value": "v"}]}).encode()


REFUSED_BODIES: dict[str, tuple[bytes, str]] = {
    "malformed JSON": (b'{"user_id": ', "application/json"),
    "a request without a user ID": (b'{"prompt": "hello"}', "application/json"),
    "a request as text/plain": (request_body("user-2"), "text/plain"),
    "a request larger than the body limit": (request_body("user-2", "x" * MAX_BODY_BYTES), "application/json"),
}


def created_id(response: urllib3.BaseHTTPResponse) -> str:
    request_id: str = response.json()["request_id"]
    return request_id


@given("the API runs on Postgres and Kafka")
def api_runs(running_api: RunningApi) -> None:
    """Starting it is the work of the `running_api` fixture."""


@given("the broker is down")
def broker_down(running_api: RunningApi) -> None:
    running_api.broker.stop()


@when("the broker is back")
def broker_back(running_api: RunningApi) -> None:
    running_api.broker.start()


@when(parsers.parse('a client posts a request for user "{user_id}"'), target_fixture="response")
def post_request(running_api: RunningApi, user_id: str) -> urllib3.BaseHTTPResponse:
    return running_api.post(request_body(user_id))


@when(
    parsers.re("a client posts (?P<name>" + "|".join(map(re.escape, REFUSED_BODIES)) + ")$"),
    target_fixture="response",
)
def post_refused_body(running_api: RunningApi, name: str) -> urllib3.BaseHTTPResponse:
    body, content_type = REFUSED_BODIES[name]
    return running_api.post(body, content_type)


@then(parsers.parse("the response status is {status:d}"))
def status_is(response: urllib3.BaseHTTPResponse, status: int) -> None:
    assert response.status == status, response.data


@then(parsers.parse('the response status is {status:d} with error "{error}"'))
def refused_with(response: urllib3.BaseHTTPResponse, status: int, error: str) -> None:
    assert (response.status, response.json()["error"]) == (status, error), response.data


@then("the topic holds the request's message, keyed by its ID")
def message_published(running_api: RunningApi, response: urllib3.BaseHTTPResponse) -> None:
    request_id = created_id(response)
    [message] = read_messages(running_api.broker.bootstrap_servers, running_api.topic, count=1, timeout_s=30)
    published = RequestMessage.decode(message.value)
    assert (message.key, published.request_id) == (request_id, request_id)
    assert published.body.user_id == running_api.get(request_id)["request"]["user_id"]


@then("the topic holds the request's message and no other")
def only_message_published(running_api: RunningApi, response: urllib3.BaseHTTPResponse) -> None:
    request_id = created_id(response)
    eventually(lambda: running_api.get(request_id)["status"] == "published", f"{request_id} published")
    [message] = read_messages(running_api.broker.bootstrap_servers, running_api.topic, count=1)
    assert message.key == request_id
    assert len(published_keys(running_api.broker.bootstrap_servers, running_api.topic)) == 1


@then(parsers.parse('the database holds the request for user "{user_id}"'))
def request_stored(running_api: RunningApi, response: urllib3.BaseHTTPResponse, user_id: str) -> None:
    assert [(row.request_id, row.user_id) for row in running_api.rows()] == [(created_id(response), user_id)]


@then("the database holds the request and no other")
def only_request_stored(running_api: RunningApi, response: urllib3.BaseHTTPResponse) -> None:
    assert [row.request_id for row in running_api.rows()] == [created_id(response)]
    assert running_api.outbox_size() == 1


@then("the relay reports that it cannot publish")
def relay_cannot_publish(caplog: pytest.LogCaptureFixture) -> None:
    eventually(
        lambda: [r for r in caplog.records if r.getMessage().startswith("relay pass left messages unpublished")],
        "the relay tried and failed to publish",
    )


@then(parsers.parse('the request is still "{status}", its message unsent'))
def still_unpublished(running_api: RunningApi, response: urllib3.BaseHTTPResponse, status: str) -> None:
    request_id = created_id(response)
    [row] = running_api.rows()
    assert (row.request_id, row.status, row.sent) == (request_id, status, False)
    assert running_api.get(request_id)["status"] == status


@then(parsers.parse('the request ends up "{status}"'))
def ends_up(running_api: RunningApi, response: urllib3.BaseHTTPResponse, status: str) -> None:
    request_id = created_id(response)
    eventually(lambda: running_api.get(request_id)["status"] == status, f"{request_id} {status}")
    [row] = running_api.rows()
    assert (row.request_id, row.status, row.sent) == (request_id, status, True)
