import pytest

from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.store import InMemoryUnitOfWork
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from adapters.telemetry.metered import (
    MeteredForward,
    MeteredIngest,
    MeteredPublisher,
    MeteredTokenClient,
    outbox_backlog,
)
from adapters.telemetry.metrics import Metrics
from domain.model.errors import ThirdPartyRejected, TokenRefused
from domain.model.message import RequestMessage
from domain.model.request import OneRequest
from domain.model.retry import RetryPolicy
from domain.services.snowflake import SnowflakeIdGenerator
from domain.services.tokens import TokenCache
from domain.usecases.forward import ForwardRequest
from domain.usecases.ingest import IngestRequest
from domain.usecases.relay import RelayOutbox
from ports.messages import ConsumedMessage, Origin
from ports.publisher import Publisher
from runtime.forwarding import decoding

TOPIC = "one-request"
BODY = {"user_id": "user-1", "prompt": "hello"}


@pytest.fixture
def metrics(memory_telemetry):
    return Metrics.of(memory_telemetry.telemetry)


@pytest.fixture
def ingest(store, clock, metrics):
    uow = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    return MeteredIngest(IngestRequest(uow, SnowflakeIdGenerator(clock, node=1), clock), metrics)


def values(recorded, name):
    """{attributes: value} of a sum or gauge; {attributes: (count, sum)} of a histogram."""
    result = {}
    for point in recorded.points(name):
        key = tuple(sorted(point.attributes.items()))
        result[key] = (point.count, pytest.approx(point.sum)) if hasattr(point, "bucket_counts") else point.value
    return result


def test_ingestion_is_counted_as_handled_then_succeeded_or_failed_and_timed(ingest, memory_telemetry):
    ingest(BODY)
    ingest(BODY)
    with pytest.raises(Exception, match="user_id"):
        ingest({"prompt": "no user"})

    assert values(memory_telemetry, "cruncan.ingest.handled") == {(): 3}
    assert values(memory_telemetry, "cruncan.ingest.succeeded") == {(): 2}
    assert values(memory_telemetry, "cruncan.ingest.failed") == {(("error.type", "InvalidRequest"),): 1}
    durations = {key: count for key, (count, _) in values(memory_telemetry, "cruncan.ingest.duration").items()}
    assert durations == {(): 2, (("error.type", "InvalidRequest"),): 1}


class _Acknowledging(Publisher):
    def __init__(self, inner: Publisher, refused: set[int]) -> None:
        self._inner = inner
        self._refused = refused

    def publish(self, messages):
        return self._inner.publish([m for m in messages if m.outbox_id not in self._refused])


def test_publication_counts_acknowledged_messages_and_their_time_since_the_outbox(
    ingest, store, clock, metrics, memory_telemetry
):
    ingest(BODY)
    clock.advance(0.5)
    ingest(BODY)
    clock.advance(1.0)
    publisher = _Acknowledging(InMemoryPublisher(InMemoryBroker(), TOPIC), refused={2})
    relay = RelayOutbox(
        lambda: InMemoryUnitOfWork(store), MeteredPublisher(publisher, metrics, clock, topic=TOPIC), clock
    )

    assert relay().delivered == 1

    topic = (("messaging.destination.name", TOPIC),)
    assert values(memory_telemetry, "cruncan.outbox.published") == {topic: 1}
    assert values(memory_telemetry, "cruncan.outbox.publish.duration") == {topic: (1, pytest.approx(1.5))}


def test_the_outbox_backlog_is_observed_at_each_collection(ingest, store, clock, metrics, memory_telemetry):
    metrics.observe_outbox_backlog(outbox_backlog(lambda: InMemoryUnitOfWork(store)))
    ingest(BODY)
    ingest(BODY)

    assert values(memory_telemetry, "cruncan.outbox.backlog") == {(): 2}

    RelayOutbox(lambda: InMemoryUnitOfWork(store), InMemoryPublisher(InMemoryBroker(), TOPIC), clock)()

    assert values(memory_telemetry, "cruncan.outbox.backlog") == {(): 0}


def test_a_backlog_that_cannot_be_read_is_left_out_without_breaking_collection(metrics, memory_telemetry, caplog):
    def unreadable() -> int:
        raise ConnectionError("database down")

    metrics.observe_outbox_backlog(unreadable)
    metrics.outbox_published.add(1)

    assert values(memory_telemetry, "cruncan.outbox.backlog") == {}
    assert values(memory_telemetry, "cruncan.outbox.published") == {(): 1}
    assert "database down" in caplog.text


def test_token_fetches_are_counted_by_outcome(clock, metrics, memory_telemetry):
    issuer = InMemoryTokenIssuer(clock)
    client = MeteredTokenClient(issuer, metrics)
    client.fetch()
    issuer.fail_next(error=TokenRefused("bad client credentials"))
    with pytest.raises(TokenRefused):
        client.fetch()

    assert values(memory_telemetry, "cruncan.token.fetches") == {
        (("cruncan.outcome", "success"),): 1,
        (("cruncan.outcome", "failure"), ("error.type", "TokenRefused")): 1,
    }


@pytest.fixture
def third_party(clock):
    return InMemoryThirdParty()


@pytest.fixture
def forward(store, clock, third_party, metrics):
    tokens = TokenCache(MeteredTokenClient(InMemoryTokenIssuer(clock), metrics), clock)
    use_case = ForwardRequest(
        lambda: InMemoryUnitOfWork(store),
        tokens,
        third_party,
        clock,
        retry=RetryPolicy(0.2, 10.0, 3),
        jitter=lambda: 0.5,
    )
    metered = MeteredForward(decoding(use_case), metrics)
    return lambda value, origin: metered(ConsumedMessage(origin, None, value))


def payload(request_id: str) -> bytes:
    return RequestMessage(request_id.zfill(20), OneRequest.from_json(BODY)).encode()


def test_worker_outcomes_retries_and_dead_letters_are_counted(forward, third_party, memory_telemetry):
    forward(payload("1"), Origin(TOPIC, 0, 0))
    third_party.fail_next(times=2)
    forward(payload("2"), Origin(TOPIC, 0, 1))
    third_party.fail_next(error=ThirdPartyRejected("400 Bad Request"))
    forward(payload("3"), Origin(TOPIC, 0, 2))
    forward(b"not json", Origin(TOPIC, 0, 3))
    third_party.fail_next(times=3)
    forward(payload("5"), Origin(TOPIC, 0, 4))

    forwarded, dead = (("cruncan.outcome", "forwarded"),), (("cruncan.outcome", "dead_lettered"),)
    assert values(memory_telemetry, "cruncan.worker.messages.processed") == {forwarded: 2, dead: 3}
    assert values(memory_telemetry, "cruncan.worker.messages.retried") == {(): 2 + 2}
    assert values(memory_telemetry, "cruncan.worker.messages.dead_lettered") == {
        (("error.type", "rejected"),): 1,
        (("error.type", "undecodable"),): 1,
        (("error.type", "retries-exhausted"),): 1,
    }
    durations = {key: count for key, (count, _) in values(memory_telemetry, "cruncan.worker.forward.duration").items()}
    assert durations == {forwarded: 2, dead: 3}
    assert values(memory_telemetry, "cruncan.token.fetches") == {(("cruncan.outcome", "success"),): 1}


def test_every_instrument_has_its_conventional_name_and_unit(metrics, memory_telemetry):
    metrics.observe_outbox_backlog(lambda: 0)
    for counter in (
        metrics.ingest_handled,
        metrics.ingest_succeeded,
        metrics.ingest_failed,
        metrics.outbox_published,
        metrics.messages_processed,
        metrics.messages_retried,
        metrics.messages_dead_lettered,
        metrics.token_fetches,
    ):
        counter.add(1)
    for histogram in (metrics.ingest_duration, metrics.outbox_publish_duration, metrics.forward_duration):
        histogram.record(0.01)

    data = memory_telemetry.metrics.get_metrics_data()
    units = {
        metric.name: metric.unit for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
    }
    assert units == {
        "cruncan.ingest.handled": "{request}",
        "cruncan.ingest.succeeded": "{request}",
        "cruncan.ingest.failed": "{request}",
        "cruncan.ingest.duration": "s",
        "cruncan.outbox.backlog": "{message}",
        "cruncan.outbox.publish.duration": "s",
        "cruncan.outbox.published": "{message}",
        "cruncan.worker.messages.processed": "{message}",
        "cruncan.worker.messages.retried": "{retry}",
        "cruncan.worker.messages.dead_lettered": "{message}",
        "cruncan.worker.forward.duration": "s",
        "cruncan.token.fetches": "{fetch}",
    }


def test_durations_fall_into_buckets_made_for_seconds(metrics, memory_telemetry):
    metrics.ingest_duration.record(0.003)
    metrics.ingest_duration.record(0.2)

    [point] = memory_telemetry.points("cruncan.ingest.duration")
    assert point.explicit_bounds[0] == 0.005
    assert point.bucket_counts[0] == 1
    assert sum(point.bucket_counts) == 2
