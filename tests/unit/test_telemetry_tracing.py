from datetime import timedelta

import pytest
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, set_span_in_context

from adapters.memory.broker import InMemoryPublisher
from adapters.memory.clock import ManualClock
from adapters.memory.store import InMemoryUnitOfWork
from adapters.telemetry.messaging import TracingPublisher, process_span
from adapters.telemetry.providers import Telemetry, w3c_propagator
from adapters.telemetry.tracing import DatabaseCalls, TracingUnitOfWork, database_attributes, traced_unit_of_work
from domain.model.errors import InvalidRequest, RequestNotFound
from domain.model.request import RequestStatus
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from domain.usecases.relay import RelayOutbox
from ports.messages import ConsumedMessage, Origin
from ports.publisher import Publisher

TOPIC = "one-request"
BODY = {"user_id": "user-1", "prompt": "hello"}


@pytest.fixture
def traced_uow(store, memory_telemetry):
    return traced_unit_of_work(lambda: InMemoryUnitOfWork(store), memory_telemetry.telemetry, db_system="other_sql")


@pytest.fixture
def ingest(traced_uow, clock):
    return IngestRequest(traced_uow, SnowflakeIdGenerator(clock, node=1), clock)


@pytest.fixture
def in_a_request(memory_telemetry):
    """A SERVER span, current in the block, as a request's: port calls make spans only inside one."""
    return lambda: memory_telemetry.telemetry.tracer("test").start_as_current_span("POST /one", kind=SpanKind.SERVER)


def traceparent_ids(headers) -> tuple[str, str]:
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1, "sampled"
    return trace_id, span_id


def relay(store, broker, clock, telemetry: Telemetry, inner: Publisher | None = None) -> RelayOutbox:
    publisher = TracingPublisher(inner or InMemoryPublisher(broker, TOPIC), telemetry, topic=TOPIC)
    return RelayOutbox(lambda: InMemoryUnitOfWork(store), publisher, clock)


def test_each_port_call_of_a_use_case_is_a_client_span_under_the_current_one(ingest, in_a_request, memory_telemetry):
    with in_a_request() as server:
        request_id = ingest(BODY)

    names = [span.name for span in memory_telemetry.finished() if span.name != "POST /one"]
    assert names == ["RequestRepository.add", "Outbox.add", "UnitOfWork.commit"]
    for span in memory_telemetry.finished():
        assert span.context.trace_id == server.get_span_context().trace_id
    add = memory_telemetry.span("RequestRepository.add")
    assert add.parent is not None
    assert add.parent.span_id == server.get_span_context().span_id
    assert add.kind is SpanKind.CLIENT
    assert dict(add.attributes or {}) == {
        "db.system.name": "other_sql",
        "db.operation.name": "INSERT",
        "db.collection.name": "request",
        "cruncan.request.id": request_id,
    }
    assert memory_telemetry.span("Outbox.add").attributes["db.collection.name"] == "outbox"
    assert memory_telemetry.span("UnitOfWork.commit").attributes["db.operation.name"] == "COMMIT"


def test_an_idempotent_ingestion_traces_the_key_store_without_the_key(
    ingest, traced_uow, clock, in_a_request, memory_telemetry
):
    with in_a_request():
        request_id = ingest(BODY, "secret-ish-key")
        assert ingest(BODY, "secret-ish-key") == request_id
        with traced_uow() as uow:
            assert uow.idempotency_keys.purge_expired(clock.now() + timedelta(days=2)) == 1

    first_claim, replay_claim = memory_telemetry.finished("IdempotencyKeys.claim")
    assert first_claim.attributes["db.response.returned_rows"] == 0
    assert replay_claim.attributes["db.response.returned_rows"] == 1
    assert memory_telemetry.span("IdempotencyKeys.add").attributes["cruncan.request.id"] == request_id
    assert memory_telemetry.span("IdempotencyKeys.purge_expired").attributes["db.operation.name"] == "DELETE"
    for span in memory_telemetry.finished():
        assert "secret-ish-key" not in str(dict(span.attributes or {}))


def test_reads_record_how_many_rows_they_returned(traced_uow, ingest, in_a_request, memory_telemetry):
    with in_a_request():
        request_id = ingest(BODY)
        GetRequest(traced_uow)(request_id)
        with traced_uow() as uow:
            assert uow.requests.get("00000000000000000000") is None
            uow.requests.record_status([request_id], RequestStatus.FAILED, ManualClock().now(), "gone")

    found, missing = memory_telemetry.finished("RequestRepository.get")
    assert found.attributes["db.response.returned_rows"] == 1
    assert missing.attributes["db.response.returned_rows"] == 0
    status = memory_telemetry.span("RequestRepository.record_status")
    assert status.attributes["cruncan.request.status"] == "failed"
    assert status.attributes["db.operation.name"] == "UPDATE"


def test_a_failing_port_call_ends_its_span_in_error_and_lets_the_error_through(store, in_a_request, memory_telemetry):
    telemetry = memory_telemetry.telemetry
    uow = TracingUnitOfWork(
        InMemoryUnitOfWork(store), DatabaseCalls(telemetry, db_system="postgresql"), w3c_propagator()
    )
    clock = ManualClock()
    with in_a_request():
        request_id = IngestRequest(lambda: uow, SnowflakeIdGenerator(clock, node=1), clock)(BODY)
        stored = store.requests[request_id]
        with uow:
            uow.requests.add(stored)
            with pytest.raises(Exception, match="already exists") as raised:
                uow.commit()

    [_, failed] = memory_telemetry.finished("UnitOfWork.commit")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == f"{type(raised.value).__name__}: {raised.value}"
    [commits_failed] = [
        point
        for point in memory_telemetry.points("db.client.operation.duration")
        if point.attributes["db.operation.name"] == "COMMIT" and "error.type" in point.attributes
    ]
    assert (commits_failed.count, commits_failed.attributes["error.type"]) == (1, type(raised.value).__qualname__)
    assert failed.attributes["error.type"] == type(raised.value).__qualname__
    assert [event.name for event in failed.events] == ["exception"]


def test_invalid_requests_make_no_storage_spans(ingest, in_a_request, memory_telemetry):
    with in_a_request(), pytest.raises(InvalidRequest):
        ingest({"user_id": ""})

    assert [span.name for span in memory_telemetry.finished()] == ["POST /one"]


def test_port_calls_outside_a_request_or_in_one_not_sampled_make_no_spans_and_still_carry_the_context(
    store, clock, memory_telemetry
):
    telemetry = memory_telemetry.telemetry
    ingest = IngestRequest(
        traced_unit_of_work(lambda: InMemoryUnitOfWork(store), telemetry, db_system="postgresql"),
        SnowflakeIdGenerator(clock, node=1),
        clock,
    )
    ingest(BODY)
    unsampled = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True)
    with telemetry.tracer("test").start_as_current_span("POST /one", set_span_in_context(NonRecordingSpan(unsampled))):
        ingest(BODY)

    assert memory_telemetry.finished() == []
    outside, not_sampled = (message.headers for message in store.outbox.values())
    assert "traceparent" not in outside
    assert not_sampled["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not_sampled["traceparent"].endswith("-00"), "not sampled: the relay and the worker record nothing either"


def test_every_port_call_is_measured_in_a_request_or_not(store, clock, in_a_request, memory_telemetry):
    where = {"db.namespace": "cruncan", "server.address": "db.internal", "server.port": 5432}
    uow = traced_unit_of_work(
        lambda: InMemoryUnitOfWork(store), memory_telemetry.telemetry, db_system="postgresql", db_attributes=where
    )
    request_id = IngestRequest(uow, SnowflakeIdGenerator(clock, node=1), clock)(BODY)
    with in_a_request():
        GetRequest(uow)(request_id)

    durations = memory_telemetry.points("db.client.operation.duration")
    calls = {(p.attributes["db.operation.name"], p.attributes.get("db.collection.name")): p.count for p in durations}
    assert calls == {("INSERT", "request"): 1, ("INSERT", "outbox"): 1, ("COMMIT", None): 1, ("SELECT", "request"): 1}
    assert all(point.attributes.items() >= {"db.system.name": "postgresql", **where}.items() for point in durations)
    assert "cruncan.request.id" not in str([point.attributes for point in durations]), "one series per method"
    [rows] = memory_telemetry.points("db.client.response.returned_rows")
    assert (rows.attributes["db.operation.name"], rows.count, rows.sum) == ("SELECT", 1, 1)


def test_a_request_not_sampled_is_relayed_and_processed_without_spans_under_the_context_it_was_stored_with(
    ingest, store, broker, clock, memory_telemetry
):
    telemetry = memory_telemetry.telemetry
    unsampled = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True)
    with telemetry.tracer("test").start_as_current_span("POST /one", set_span_in_context(NonRecordingSpan(unsampled))):
        ingest(BODY)
    [stored] = store.outbox.values()

    assert relay(store, broker, clock, telemetry)().delivered == 1
    [record] = broker.records(TOPIC)
    with process_span(telemetry, record.headers, topic=TOPIC, partition=0, offset=0) as processing:
        assert not processing.is_recording()

    assert record.headers["traceparent"] == stored.headers["traceparent"]
    assert memory_telemetry.finished() == []


def test_port_spans_say_where_the_database_is(store, in_a_request, memory_telemetry):
    where = database_attributes("host=db.internal port=6432 dbname=cruncan user=cruncan password=secret")
    uow = traced_unit_of_work(
        lambda: InMemoryUnitOfWork(store), memory_telemetry.telemetry, db_system="postgresql", db_attributes=where
    )
    with in_a_request(), pytest.raises(RequestNotFound):
        GetRequest(uow)("00000000000000000000")

    assert where == {"db.namespace": "cruncan", "server.address": "db.internal", "server.port": 6432}
    assert dict(memory_telemetry.span("RequestRepository.get").attributes or {}) == {
        "db.system.name": "postgresql",
        **where,
        "db.operation.name": "SELECT",
        "db.collection.name": "request",
        "cruncan.request.id": "00000000000000000000",
        "db.response.returned_rows": 0,
    }
    assert database_attributes("postgresql:///cruncan") == {"db.namespace": "cruncan"}
    assert database_attributes("host=db.internal port") == {}, "a string libpq refuses names nothing"


def test_the_outbox_keeps_the_context_current_when_the_message_was_recorded(ingest, store, memory_telemetry):
    tracer = memory_telemetry.telemetry.tracer("test")
    with tracer.start_as_current_span("POST /one") as server:
        ingest(BODY)

    [message] = store.outbox.values()
    context = server.get_span_context()
    assert traceparent_ids(message.headers) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")


def test_one_trace_from_the_request_through_the_outbox_and_the_broker_to_the_worker(
    ingest, store, broker, clock, memory_telemetry
):
    telemetry = memory_telemetry.telemetry
    with telemetry.tracer("test").start_as_current_span("POST /one", kind=SpanKind.SERVER) as server:
        request_id = ingest(BODY)
    clock.advance(0.25)

    assert relay(store, broker, clock, telemetry)().delivered == 1
    [record] = broker.records(TOPIC)
    with process_span(
        telemetry,
        record.headers,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        consumer_group="cruncan-two",
    ):
        pass

    producer = memory_telemetry.span(f"send {TOPIC}")
    consumer = memory_telemetry.span(f"process {TOPIC}")
    request = server.get_span_context()
    assert producer.kind is SpanKind.PRODUCER
    assert producer.context.trace_id == consumer.context.trace_id == request.trace_id
    assert producer.parent is not None
    assert producer.parent.span_id == request.span_id
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert [(link.context.trace_id, link.context.span_id) for link in consumer.links] == [
        (producer.context.trace_id, producer.context.span_id)
    ]
    assert traceparent_ids(record.headers) == (f"{request.trace_id:032x}", f"{producer.context.span_id:016x}")
    assert dict(producer.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": TOPIC,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.kafka.message.key": request_id,
        "messaging.message.body.size": len(record.value),
        "cruncan.outbox.id": 1,
    }
    assert dict(consumer.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": TOPIC,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.kafka.message.key": request_id,
        "messaging.consumer.group.name": "cruncan-two",
    }


def test_spans_started_while_processing_are_children_of_the_process_span(memory_telemetry):
    telemetry = memory_telemetry.telemetry
    with (
        process_span(telemetry, {}, topic=TOPIC, partition=0, offset=7) as processing,
        telemetry.tracer("test").start_as_current_span("POST /three"),
    ):
        pass

    assert processing.get_span_context().is_valid
    assert memory_telemetry.span(f"process {TOPIC}").parent is None
    assert memory_telemetry.span(f"process {TOPIC}").links == ()
    child = memory_telemetry.span("POST /three")
    assert child.parent is not None
    assert child.parent.span_id == processing.get_span_context().span_id


def test_a_failure_while_processing_marks_the_process_span(memory_telemetry):
    with pytest.raises(RuntimeError), process_span(memory_telemetry.telemetry, {}, topic=TOPIC, partition=0, offset=1):
        raise RuntimeError("third party down")

    span = memory_telemetry.span(f"process {TOPIC}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"


class _RefusingPublisher(Publisher):
    def __init__(self, acknowledged: set[int] | None = None, error: Exception | None = None) -> None:
        self.acknowledged = acknowledged or set()
        self.error = error

    def publish(self, messages):
        if self.error:
            raise self.error
        return {pending.outbox_id for pending in messages} & self.acknowledged


def test_a_message_the_broker_did_not_acknowledge_ends_its_producer_span_in_error(
    ingest, store, broker, clock, memory_telemetry
):
    ingest(BODY)
    ingest(BODY)

    result = relay(store, broker, clock, memory_telemetry.telemetry, _RefusingPublisher(acknowledged={2}))()

    assert result.delivered == 1
    first, second = sorted(memory_telemetry.finished(f"send {TOPIC}"), key=lambda s: s.attributes["cruncan.outbox.id"])
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "not_acknowledged"
    assert second.status.status_code is StatusCode.UNSET


def test_a_publisher_error_ends_every_producer_span_in_error_and_propagates(
    ingest, store, broker, clock, memory_telemetry
):
    ingest(BODY)
    refusing = _RefusingPublisher(error=ConnectionError("broker down"))

    with pytest.raises(ConnectionError):
        relay(store, broker, clock, memory_telemetry.telemetry, refusing)()

    span = memory_telemetry.span(f"send {TOPIC}")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"


def test_a_message_without_trace_context_is_sent_in_a_trace_of_its_own(store, broker, clock, memory_telemetry):
    untraced = IngestRequest(lambda: InMemoryUnitOfWork(store), SnowflakeIdGenerator(clock, node=1), clock)
    untraced(BODY)
    clock.advance(timedelta(seconds=1).total_seconds())

    relay(store, broker, clock, memory_telemetry.telemetry)()

    producer = memory_telemetry.span(f"send {TOPIC}")
    assert producer.parent is None
    [record] = broker.records(TOPIC)
    assert traceparent_ids(record.headers)[1] == f"{producer.context.span_id:016x}"


def test_disabled_telemetry_leaves_the_unit_of_work_factory_as_it_is(store):
    def factory():
        return InMemoryUnitOfWork(store)

    assert traced_unit_of_work(factory, Telemetry.disabled("cruncan-api"), db_system="postgresql") is factory


def test_client_spans_that_would_start_a_trace_are_dropped_and_others_kept(memory_telemetry):
    tracer = memory_telemetry.telemetry.tracer("test")
    with tracer.start_as_current_span("SELECT 1", kind=SpanKind.CLIENT) as orphan:
        assert not orphan.is_recording()
    with (
        tracer.start_as_current_span("GET /healthz", kind=SpanKind.SERVER),
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as child,
    ):
        assert child.is_recording()
    with tracer.start_as_current_span("relay pass"):
        pass

    assert sorted(span.name for span in memory_telemetry.finished()) == ["GET /healthz", "SELECT", "relay pass"]


def test_kafka_headers_are_read_as_text_for_the_process_span(memory_telemetry):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    raw = (("traceparent", traceparent.encode()), ("empty", None), ("retry", b"1"), ("retry", b"2"))

    headers = ConsumedMessage(Origin(TOPIC, 1, 9), None, None, raw).text_headers()
    with process_span(memory_telemetry.telemetry, headers, topic=TOPIC, partition=1, offset=9):
        pass

    assert headers == {"traceparent": traceparent, "empty": "", "retry": "2"}
    assert f"{memory_telemetry.span(f'process {TOPIC}').context.trace_id:032x}" == traceparent.split("-")[1]
