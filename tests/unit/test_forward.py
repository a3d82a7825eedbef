import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from domain.model.errors import ThirdPartyRejected, ThirdPartyUnauthorized, ThirdPartyUnavailable
from domain.model.message import RequestMessage, ThreeRequest
from domain.model.outcomes import DeadLetter, DeadLetterCause, Forwarded
from domain.model.request import RequestStatus
from domain.model.retry import RetryPolicy
from domain.services.snowflake import SnowflakeIdGenerator
from domain.services.tokens import TokenCache
from domain.usecases.forward import ForwardRequest
from domain.usecases.ingest import IngestRequest
from ports.messages import ConsumedMessage, Origin
from runtime.forwarding import decoding

BODY = {"user_id": "user-7", "prompt": "What is the value of k1?", "data": [{"key": "k1", "value": "15"}]}
ORIGIN = Origin("one-request", 2, 41)
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 1.0


class World:
    """The forwarding use case on the in-memory adapters, with one ingested request to forward."""

    def __init__(self, jitter=lambda: 0.5, retry_after_max_s=60.0):
        self.clock = ManualClock()
        self.store = InMemoryStore()
        self.issuer = InMemoryTokenIssuer(self.clock, lifetime_s=3600)
        self.third_party = InMemoryThirdParty(self.issuer)
        self.use_case = ForwardRequest(
            self.unit_of_work,
            TokenCache(self.issuer, self.clock),
            self.third_party,
            self.clock,
            retry=RetryPolicy(BACKOFF_BASE_S, BACKOFF_MAX_S, MAX_ATTEMPTS),
            retry_after_max_s=retry_after_max_s,
            jitter=jitter,
        )
        self.ingest = IngestRequest(self.unit_of_work, SnowflakeIdGenerator(self.clock, node=1), self.clock)

    def forward(self, payload, origin):
        """The use case as the worker runs it: on a consumed message, decoded first."""
        return decoding(self.use_case)(ConsumedMessage(origin, None, payload))

    def unit_of_work(self):
        return InMemoryUnitOfWork(self.store)

    def publish(self, body=BODY):
        """Ingests a request and returns its id and the message payload the relay would publish."""
        request_id = self.ingest(body)
        payload = next(m.payload for m in self.store.outbox.values() if m.key == request_id)
        return request_id, payload

    def stored(self, request_id):
        return self.store.requests[request_id]


@pytest.fixture
def world():
    return World()


def test_a_message_is_forwarded_with_a_token_and_recorded(world):
    request_id, payload = world.publish()

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=1)
    assert world.third_party.received == [
        ThreeRequest(
            id=request_id,
            metadata={"source": "cruncan-api", "user_id": "user-7"},
            one_request=RequestMessage.decode(payload).body,
        )
    ]
    assert world.stored(request_id).status is RequestStatus.FORWARDED
    assert world.stored(request_id).updated_at == world.clock.now()
    assert world.clock.slept == []


def test_one_token_serves_many_messages(world):
    for _ in range(3):
        world.forward(world.publish()[1], ORIGIN)

    assert world.issuer.fetches == 1
    assert len(world.third_party.received) == 3


def test_a_token_api_failing_twice_then_succeeding_still_forwards(world):
    request_id, payload = world.publish()
    world.issuer.fail_next(2)

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=1)
    assert world.issuer.fetches == 3
    assert world.stored(request_id).status is RequestStatus.FORWARDED


def test_a_token_api_down_for_a_whole_fetch_dead_letters_without_a_send(world):
    """The token cache is the one layer retrying the token API: forwarding does not fetch again."""
    request_id, payload = world.publish()
    world.issuer.fail_next(5)

    outcome = world.forward(payload, ORIGIN)

    assert isinstance(outcome, DeadLetter)
    assert (outcome.cause, outcome.attempts) == (DeadLetterCause.RETRIES_EXHAUSTED, 1)
    assert outcome.reason.startswith("no access token: ")
    assert world.issuer.fetches == 5
    assert world.third_party.attempts == 0
    assert world.stored(request_id).status is RequestStatus.FAILED


def test_a_503_then_a_200_is_retried_after_a_backoff(world):
    request_id, payload = world.publish()
    world.third_party.fail_next(1, ThirdPartyUnavailable("the third party answered 503 Service Unavailable"))

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=2)
    assert world.clock.slept == [0.5 * BACKOFF_BASE_S]
    assert [r.id for r in world.third_party.received] == [request_id]
    assert world.stored(request_id).status is RequestStatus.FORWARDED


def test_a_400_dead_letters_at_once_and_marks_the_request_failed(world):
    request_id, payload = world.publish()
    world.third_party.fail_next(1, ThirdPartyRejected("the third party answered 400 Bad Request"))

    outcome = world.forward(payload, ORIGIN)

    assert outcome == DeadLetter(
        request_id, DeadLetterCause.REJECTED, "the third party answered 400 Bad Request", attempts=1
    )
    assert world.third_party.attempts == 1
    assert world.clock.slept == []
    stored = world.stored(request_id)
    assert stored.status is RequestStatus.FAILED
    assert stored.failure_reason == "the third party answered 400 Bad Request"


@pytest.mark.parametrize(
    "payload",
    [None, b"", b"\xff\xfe", b"not json", b"[]", b'{"request_id": ""}', b'{"request_id": "1", "request": {}}'],
)
def test_a_poison_message_is_dead_lettered_without_a_call(world, payload):
    outcome = world.forward(payload, ORIGIN)

    assert isinstance(outcome, DeadLetter)
    assert outcome.cause is DeadLetterCause.UNDECODABLE
    assert outcome.request_id is None
    assert outcome.attempts == 0
    assert outcome.reason.startswith("undecodable message: ")
    assert world.issuer.fetches == 0
    assert world.third_party.attempts == 0


def test_a_rejected_token_is_replaced_once_and_the_request_sent_again(world):
    world.forward(world.publish()[1], ORIGIN)
    request_id, payload = world.publish()
    world.issuer.revoke_all()

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=2)
    assert world.issuer.fetches == 2
    assert world.clock.slept == []
    assert world.stored(request_id).status is RequestStatus.FORWARDED


def test_a_fresh_token_rejected_again_dead_letters(world):
    request_id, payload = world.publish()
    world.third_party.fail_next(2, ThirdPartyUnauthorized("the third party answered 401 Unauthorized"))

    outcome = world.forward(payload, ORIGIN)

    assert isinstance(outcome, DeadLetter)
    assert outcome.cause is DeadLetterCause.REJECTED
    assert outcome.attempts == 2
    assert "freshly issued token" in outcome.reason
    assert world.issuer.fetches == 2
    assert world.stored(request_id).status is RequestStatus.FAILED


def test_a_second_401_refreshes_again_when_its_token_was_not_the_one_just_fetched(world):
    """401 (token A, refreshed to B), 503 with B, 401 with B: B already served a send that was not
    refused for it, so it is refreshed again rather than taken for a freshly issued token refused."""
    request_id, payload = world.publish()
    unauthorized = ThirdPartyUnauthorized("the third party answered 401 Unauthorized")
    world.third_party.fail_next(1, unauthorized)
    world.third_party.fail_next(1, ThirdPartyUnavailable("the third party answered 503 Service Unavailable"))
    world.third_party.fail_next(1, unauthorized)

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=4)
    assert world.issuer.fetches == 3
    assert world.stored(request_id).status is RequestStatus.FORWARDED


def test_rejected_tokens_never_cost_more_sends_than_the_attempts(world):
    _, payload = world.publish()
    world.third_party.fail_next(1, ThirdPartyUnauthorized("the third party answered 401 Unauthorized"))
    world.third_party.fail_next(MAX_ATTEMPTS, ThirdPartyUnavailable("the third party answered 503"))

    outcome = world.forward(payload, ORIGIN)

    assert isinstance(outcome, DeadLetter)
    assert (outcome.cause, outcome.attempts) == (DeadLetterCause.RETRIES_EXHAUSTED, MAX_ATTEMPTS)
    assert world.third_party.attempts == MAX_ATTEMPTS


def test_the_source_in_the_metadata_comes_from_configuration():
    world = World()
    world.use_case = ForwardRequest(
        world.unit_of_work, TokenCache(world.issuer, world.clock), world.third_party, world.clock, source="cruncan-grpc"
    )

    world.forward(world.publish()[1], ORIGIN)

    assert [request.metadata["source"] for request in world.third_party.received] == ["cruncan-grpc"]


def test_an_exhausted_budget_dead_letters_with_the_attempt_count(world):
    request_id, payload = world.publish()
    world.third_party.fail_next(MAX_ATTEMPTS, ThirdPartyUnavailable("the third party answered 502 Bad Gateway"))

    outcome = world.forward(payload, ORIGIN)

    assert outcome == DeadLetter(
        request_id,
        DeadLetterCause.RETRIES_EXHAUSTED,
        f"gave up after {MAX_ATTEMPTS} attempts: the third party answered 502 Bad Gateway",
        attempts=MAX_ATTEMPTS,
    )
    assert world.third_party.attempts == MAX_ATTEMPTS
    assert len(world.clock.slept) == MAX_ATTEMPTS - 1
    assert world.stored(request_id).status is RequestStatus.FAILED


@given(st.lists(st.floats(0, 1, exclude_max=True), min_size=MAX_ATTEMPTS, max_size=MAX_ATTEMPTS))
def test_backoff_has_full_jitter_under_an_exponential_ceiling(draws):
    world = World(jitter=iter(draws).__next__)
    world.third_party.fail_next(MAX_ATTEMPTS)

    world.forward(world.publish()[1], ORIGIN)

    ceilings = [min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**n) for n in range(MAX_ATTEMPTS - 1)]
    assert world.clock.slept == pytest.approx([d * c for d, c in zip(draws, ceilings, strict=False)])


def test_retry_after_is_waited_out_up_to_its_limit():
    world = World(jitter=lambda: 0.0, retry_after_max_s=60.0)
    world.third_party.fail_next(1, ThirdPartyUnavailable("the third party answered 429", retry_after=7.0))
    world.third_party.fail_next(1, ThirdPartyUnavailable("the third party answered 429", retry_after=3_600.0))
    request_id, payload = world.publish()

    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=3)
    assert world.clock.slept == [7.0, 60.0]


def test_a_redelivered_message_is_forwarded_again_and_stays_forwarded(world):
    request_id, payload = world.publish()

    world.forward(payload, ORIGIN)
    outcome = world.forward(payload, ORIGIN)

    assert outcome == Forwarded(request_id, attempts=1)
    assert [r.id for r in world.third_party.received] == [request_id, request_id]
    assert world.stored(request_id).status is RequestStatus.FORWARDED


def test_a_request_that_failed_is_forwarded_when_its_message_comes_again(world):
    request_id, payload = world.publish()
    world.third_party.fail_next(1, ThirdPartyRejected("the third party answered 409 Conflict"))

    world.forward(payload, ORIGIN)
    world.forward(payload, ORIGIN)

    stored = world.stored(request_id)
    assert stored.status is RequestStatus.FORWARDED
    assert stored.failure_reason is None


def test_a_message_for_a_request_unknown_to_the_store_is_still_forwarded(world):
    message = RequestMessage.decode(world.publish()[1])
    unknown = RequestMessage("00000000000000000042", message.body)

    outcome = world.forward(unknown.encode(), ORIGIN)

    assert outcome == Forwarded("00000000000000000042", attempts=1)
    assert "00000000000000000042" not in world.store.requests


def test_retries_and_dead_letters_are_logged_with_the_request_id(world, caplog):
    request_id, payload = world.publish()
    world.third_party.fail_next(1, ThirdPartyUnavailable("the third party answered 503 Service Unavailable"))
    world.third_party.fail_next(1, ThirdPartyRejected("the third party answered 400 Bad Request"))

    with caplog.at_level(logging.INFO, logger="domain.usecases.forward"):
        world.forward(payload, ORIGIN)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"request {request_id}: attempt 1 failed" in warnings[0]
    assert f"request {request_id} failed after 2 attempt(s)" in warnings[1]
