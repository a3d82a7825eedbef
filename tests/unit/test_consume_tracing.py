"""The worker handles each consumed message inside a CONSUMER span continuing the trace in its headers."""

from opentelemetry.trace import SpanKind, get_current_span

from adapters.telemetry.messaging import traced_handler as traced
from adapters.telemetry.providers import Telemetry
from domain.model.outcomes import DeadLetter, DeadLetterCause, Forwarded
from ports.messages import ConsumedMessage, Origin

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PRODUCER_SPAN_ID = 0xB7AD6B7169203331
MESSAGE = ConsumedMessage(
    Origin("one-request", 2, 41),
    b"00383968247537500288",
    b'{"request_id": "00383968247537500288"}',
    (("traceparent", f"00-{TRACE_ID:032x}-{PRODUCER_SPAN_ID:016x}-01".encode()),),
)


def test_a_message_is_handled_in_a_consumer_span_child_of_its_producer_span(memory_telemetry):
    seen = []

    def handle(message):
        seen.append(get_current_span().get_span_context())
        return Forwarded(message.key.decode(), 1)

    outcome = traced(handle, memory_telemetry.telemetry, consumer_group="cruncan-two")(MESSAGE)

    span = memory_telemetry.span("process one-request")
    assert outcome == Forwarded("00383968247537500288", 1)
    assert seen == [span.context]
    assert span.kind is SpanKind.CONSUMER
    assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, PRODUCER_SPAN_ID)
    assert [link.context.span_id for link in span.links] == [PRODUCER_SPAN_ID]
    assert span.attributes["messaging.kafka.offset"] == 41
    assert span.attributes["messaging.kafka.message.key"] == "00383968247537500288"
    assert span.attributes["messaging.consumer.group.name"] == "cruncan-two"


def test_with_telemetry_disabled_the_handler_is_left_as_it_is():
    def handle(message):
        return Forwarded("id", 1)

    assert traced(handle, Telemetry.disabled("cruncan-worker"), consumer_group="cruncan-two") is handle


def test_a_dead_lettered_message_ends_its_process_span_in_error_naming_the_cause(memory_telemetry):
    def handle(message):
        return DeadLetter(message.key.decode(), DeadLetterCause.REJECTED, "400 Bad Request", 1)

    traced(handle, memory_telemetry.telemetry, consumer_group="cruncan-two")(MESSAGE)

    span = memory_telemetry.span("process one-request")
    assert span.status.is_ok is False
    assert span.attributes["error.type"] == "rejected"
    assert "400 Bad Request" not in (span.status.description or "")
