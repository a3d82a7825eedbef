"""Steps of `forwarding.feature`: a request from the real broker is forwarded to WireMock, recorded in Postgres."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from pytest_bdd import given, parsers, scenarios, then, when

from harness.kafka import read_messages
from harness.polling import eventually
from harness.tansu import TansuBroker
from harness.wiremock import WireMock, three_request, token_request, token_response
from tests.component.forwarding_world import CLIENT_ID, CLIENT_SECRET, ForwardingWorld, Sent

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.wiremock]

scenarios("forwarding.feature")

QUOTED = r'"(?P<{}>[^"]+)"'
POISON_KEY = "poison-1"
POISON_VALUE = b"this is not a request"


@pytest.fixture
def world(
    clean_postgres: str, kafka_broker: TansuBroker, wiremock: WireMock, fresh_topic: str
) -> Iterator[ForwardingWorld]:
    forwarding = ForwardingWorld(clean_postgres, kafka_broker, wiremock, fresh_topic)
    try:
        yield forwarding
    finally:
        forwarding.close()


def last_sent(world: ForwardingWorld) -> Sent:
    assert world.sent, "no request was stored"
    return world.sent[-1]


@given("the worker runs on Kafka, Postgres and WireMock")
def worker_runs(world: ForwardingWorld) -> None:
    world.start_worker()


@given(parsers.re(f"the token API issues the token {QUOTED.format('token')}$"))
def token_issued(world: ForwardingWorld, token: str) -> None:
    world.wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), token_response(token))


@given(parsers.re(f"the token API fails twice, then issues the token {QUOTED.format('token')}$"))
def token_fails_twice(world: ForwardingWorld, token: str) -> None:
    failure = {"status": 500, "jsonBody": {"error": "server_error"}}
    world.wiremock.stub_sequence(token_request(CLIENT_ID, CLIENT_SECRET), [failure, failure, token_response(token)])


@given(
    parsers.re(
        f"the token API issues the token {QUOTED.format('first')} for 1 second, "
        f"then the token {QUOTED.format('second')} for an hour$"
    )
)
def tokens_expiring(world: ForwardingWorld, first: str, second: str) -> None:
    world.wiremock.stub_sequence(
        token_request(CLIENT_ID, CLIENT_SECRET), [token_response(first, expires_in=1), token_response(second, "3600")]
    )


@given(parsers.re(f"a stored request from user {QUOTED.format('user_id')}$"))
def stored_request(world: ForwardingWorld, user_id: str) -> None:
    world.store(user_id)


@given(parsers.re(f"the third party accepts it with the token {QUOTED.format('token')}$"))
def third_party_accepts(world: ForwardingWorld, token: str) -> None:
    world.wiremock.stub(three_request(last_sent(world).three_request, token), {"status": 200})


@given(parsers.re(f"the third party answers it 503, then accepts it, with the token {QUOTED.format('token')}$"))
def third_party_unavailable_once(world: ForwardingWorld, token: str) -> None:
    unavailable = {"status": 503, "headers": {"Retry-After": "0"}}
    world.wiremock.stub_sequence(three_request(last_sent(world).three_request, token), [unavailable, {"status": 200}])


@given(parsers.re(f"the third party answers it 400 with the token {QUOTED.format('token')}$"))
def third_party_refuses(world: ForwardingWorld, token: str) -> None:
    world.wiremock.stub(three_request(last_sent(world).three_request, token), {"status": 400})


@when("the relay publishes it")
@when("the relay publishes them")
def relay_publishes(world: ForwardingWorld) -> None:
    world.publish()


@when("a message that is not a request is published")
def poison_published(world: ForwardingWorld) -> None:
    producer = Producer({"bootstrap.servers": world.broker.bootstrap_servers})
    producer.produce(world.topic, key=POISON_KEY, value=POISON_VALUE, headers=[("origin", b"a test")])
    assert producer.flush(10) == 0, "the poison message was not delivered"
    world.published += 1


@when(parsers.re(f"the token {QUOTED.format('token')} has expired$"))
def token_expired() -> None:
    """It was issued for 1 second, before the request it served was recorded as forwarded: that
    second is the premise of the scenario, not a wait for an outcome."""
    time.sleep(1.0)


@when(
    parsers.re(
        rf"(?P<count>\d+) more requests from user {QUOTED.format('user_id')} "
        rf"are stored and accepted with the token {QUOTED.format('token')}$"
    )
)
def more_requests(world: ForwardingWorld, count: str, user_id: str, token: str) -> None:
    for _ in range(int(count)):
        sent = world.store(user_id)
        world.wiremock.stub(three_request(sent.three_request, token), {"status": 200})


@then(parsers.re(f"the request ends up {QUOTED.format('status')}$"))
def request_ends_up(world: ForwardingWorld, status: str) -> None:
    sent = last_sent(world)
    eventually(
        lambda: world.stored(sent.request_id).status.value == status,
        f"request {sent.request_id} {status} (unmatched by WireMock: {world.unmatched()})",
    )


@then(parsers.re(f"the request ends up {QUOTED.format('status')} because {QUOTED.format('reason')}$"))
def request_ends_up_because(world: ForwardingWorld, status: str, reason: str) -> None:
    request_ends_up(world, status)
    assert world.stored(last_sent(world).request_id).failure_reason == reason


@then(parsers.re(f"they all end up {QUOTED.format('status')}$"))
def all_end_up(world: ForwardingWorld, status: str) -> None:
    for sent in world.sent:
        eventually(
            lambda sent=sent: world.stored(sent.request_id).status.value == status,
            f"request {sent.request_id} {status} (unmatched by WireMock: {world.unmatched()})",
        )


@then(parsers.re(r"the third party received it (?P<times>\d+) times?$"))
def third_party_received(world: ForwardingWorld, times: str) -> None:
    assert world.third_party_calls(last_sent(world).request_id) == int(times)


@then("the third party received nothing")
def third_party_received_nothing(world: ForwardingWorld) -> None:
    assert world.wiremock.count({"method": "POST", "url": "/three"}) == 0


@then(parsers.re(r"the token API was asked for a token (?P<times>\d+) times?$"))
def token_api_asked(world: ForwardingWorld, times: str) -> None:
    assert world.token_calls() == int(times)


@then("the worker commits past every message")
def commits_past_every_message(world: ForwardingWorld) -> None:
    ends = world.ends()
    eventually(lambda: world.committed() == ends, f"the worker's group committed up to {ends}")


@then(
    parsers.re(
        f"the dead-letter topic holds (?P<which>its|that) message with cause {QUOTED.format('cause')} "
        r"after (?P<attempts>\d+) attempts?$"
    )
)
def dead_lettered(world: ForwardingWorld, which: str, cause: str, attempts: str) -> None:
    key = last_sent(world).request_id if which == "its" else POISON_KEY
    messages = read_messages(world.broker.bootstrap_servers, world.topic, world.published)
    [original] = [message for message in messages if message.key == key]
    [letter] = read_messages(world.broker.bootstrap_servers, world.dlq_topic, 1)
    assert (letter.key, letter.value) == (original.key, original.value)
    assert original.headers.items() <= letter.headers.items()
    assert letter.headers["cruncan.dlq.cause"] == cause
    assert letter.headers["cruncan.dlq.attempts"] == attempts
    assert letter.headers["cruncan.dlq.topic"] == world.topic
    assert letter.headers["cruncan.dlq.partition"] == str(original.partition)
    assert letter.headers["cruncan.dlq.offset"] == str(original.offset)
    if which == "its":
        assert letter.headers["cruncan.dlq.reason"] == world.stored(key).failure_reason
    else:
        assert letter.headers["cruncan.dlq.reason"].startswith("undecodable message: ")
