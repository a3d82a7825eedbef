"""The documented worst case of one message, over any sequence of failures of the token API and the
third party: at most F sends to the third party and F x T token fetches, where F is
`third_party.retry.attempts` and T is `token.retry.attempts`; recording failures add none."""

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory.broker import InMemoryBroker
from adapters.memory.clock import ManualClock
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.dead_letters import InMemoryDeadLetters
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from domain.model.errors import (
    OutcomeNotRecorded,
    StoreUnavailable,
    ThirdPartyRejected,
    ThirdPartyUnauthorized,
    ThirdPartyUnavailable,
    TokenRefused,
    TokenUnavailable,
)
from domain.model.message import RequestMessage
from domain.model.outcomes import Forwarded
from domain.model.request import OneRequest, RequestStatus
from domain.model.retry import RetryPolicy
from domain.model.token import AccessToken
from domain.services.snowflake import SnowflakeIdGenerator
from domain.services.tokens import TokenCache
from domain.usecases.forward import ForwardRequest
from domain.usecases.ingest import IngestRequest
from domain.usecases.record import RecordOutcome
from ports.messages import ConsumedMessage, TopicPartition
from runtime.consume import ConsumeLoop
from runtime.forwarding import decoding

THIRD_PARTY_FAILURES = st.sampled_from(
    [
        None,
        ThirdPartyUnavailable("503"),
        ThirdPartyUnavailable("429", retry_after=5.0),
        ThirdPartyUnauthorized("401"),
        ThirdPartyRejected("400"),
    ]
)
TOKEN_FAILURES = st.sampled_from([None, TokenUnavailable("token API down"), TokenRefused("bad credentials")])
TOPIC = "one-request"
BODY = OneRequest.from_json({"user_id": "user-7", "prompt": "hi"})


class ScriptedTokenApi:
    """The in-memory issuer, failing each fetch as the script says; counts every fetch."""

    def __init__(self, issuer: InMemoryTokenIssuer, script: list[TokenUnavailable | None]) -> None:
        self._issuer = issuer
        self._script = list(script)
        self.fetches = 0

    def fetch(self) -> AccessToken:
        self.fetches += 1
        failure = self._script.pop(0) if self._script else None
        if failure is not None:
            raise failure
        return self._issuer.fetch()


class ScriptedThirdParty(InMemoryThirdParty):
    """The in-memory third party, failing each send as the script says (then judging the token)."""

    def __init__(self, issuer: InMemoryTokenIssuer, script: list[Exception | None]) -> None:
        super().__init__(issuer)
        self._script = list(script)

    def send(self, request, token):
        failure = self._script.pop(0) if self._script else None
        if failure is not None:
            self.fail_next(1, failure)
        super().send(request, token)


def world(token_script, third_party_script, sends, fetches, lifetime_s, uow=None):
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, lifetime_s=lifetime_s)
    token_api = ScriptedTokenApi(issuer, token_script)
    third_party = ScriptedThirdParty(issuer, third_party_script)
    tokens = TokenCache(token_api, clock, expiry_skew_s=0.0, retry=RetryPolicy(0.1, 5.0, fetches))
    store = InMemoryStore()
    units = uow or (lambda: InMemoryUnitOfWork(store))
    forward = ForwardRequest(units, tokens, third_party, clock, retry=RetryPolicy(0.2, 10.0, sends))
    return forward, token_api, third_party, store


@settings(max_examples=300, deadline=None)
@given(
    token_script=st.lists(TOKEN_FAILURES, max_size=40),
    third_party_script=st.lists(THIRD_PARTY_FAILURES, max_size=12),
    sends=st.integers(1, 6),
    fetches=st.integers(1, 6),
    lifetime_s=st.sampled_from([0.05, 1.0, 3600.0]),
)
def test_one_message_makes_at_most_f_sends_and_f_times_t_token_fetches(
    token_script, third_party_script, sends, fetches, lifetime_s
):
    forward, token_api, third_party, _ = world(token_script, third_party_script, sends, fetches, lifetime_s)

    outcome = forward(RequestMessage("00000000000000000001", BODY))

    assert third_party.attempts <= sends
    assert token_api.fetches <= sends * fetches
    assert outcome.attempts <= sends
    assert isinstance(outcome, Forwarded) == (third_party.received != [])


class FlakyStore:
    """Units of work on an in-memory store that refuse to open the first `failures` times."""

    def __init__(self, failures: int) -> None:
        self.store = InMemoryStore()
        self.failures = failures
        self.lock = threading.Lock()

    def __call__(self) -> InMemoryUnitOfWork:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise StoreUnavailable("the store is down")
        return InMemoryUnitOfWork(self.store)


@settings(max_examples=25, deadline=None)
@given(third_party_script=st.lists(THIRD_PARTY_FAILURES, max_size=6), store_failures=st.integers(0, 4))
def test_failures_to_record_the_outcome_add_no_send_and_no_fetch(third_party_script, store_failures):
    units = FlakyStore(0)
    forward, token_api, third_party, _ = world([], third_party_script, 3, 2, 3600.0, uow=units)
    request_id = IngestRequest(units, SnowflakeIdGenerator(ManualClock(), node=1), ManualClock())({"user_id": "u"})
    units.failures = store_failures
    broker = InMemoryBroker(partitions=1)
    [pending] = units.store.outbox.values()
    broker.append(TOPIC, request_id, pending.payload, {})
    source = InMemoryMessageSource(broker, TOPIC)

    outcome = consume_one(source, broker, decoding(forward), RecordOutcome(units, ManualClock()))

    assert third_party.attempts <= 3
    assert token_api.fetches <= 3 * 2
    expected = RequestStatus.FORWARDED if isinstance(outcome, Forwarded) else RequestStatus.FAILED
    assert units.store.requests[request_id].status is expected


def consume_one(source, broker, handle, record):
    """Runs a consume loop until the one message on the topic is committed; returns its outcome."""
    outcomes = []

    def handle_and_keep(message: ConsumedMessage):
        outcomes.append(None)
        try:
            outcome = handle(message)
        except OutcomeNotRecorded as exc:
            outcomes[-1] = exc.outcome
            raise
        outcomes[-1] = outcome
        return outcome

    loop = ConsumeLoop(
        source,
        handle_and_keep,
        InMemoryDeadLetters(broker, "one-request-dlq"),
        record=record,
        concurrency=1,
        drain_timeout_s=5,
        commit_interval_s=0.0,
        poll_timeout_s=0.01,
        retry=RetryPolicy(0.001, 0.001),
    )
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while source.group.get(TopicPartition(TOPIC, 0)) < 1:
        assert time.monotonic() < deadline, "the message was not committed within 10 s"
        time.sleep(0.005)
    stop.set()
    thread.join(5)
    assert len(outcomes) == 1, "the message was handled once"
    return outcomes[0]
