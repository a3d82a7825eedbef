"""W3C trace context carried by hand through the outbox and Kafka: one request, one trace.

The API stores its context in the outbox message (`TracingOutbox`); the relay's
`TracingPublisher` sends each message under a PRODUCER span, child of that context, and puts
the producer's context in the headers it sends; the worker handles each message
(`traced_handler`) in a CONSUMER `process_span`, child of the producer span and linked to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace

from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME,
    MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_KAFKA_MESSAGE_KEY,
    MESSAGING_KAFKA_OFFSET,
    MESSAGING_MESSAGE_BODY_SIZE,
    MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_SYSTEM,
    MessagingOperationTypeValues,
    MessagingSystemValues,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue

from adapters.telemetry.providers import Telemetry
from domain.model.message import PendingMessage
from domain.model.outcomes import DeadLetter, ForwardOutcome
from ports.messages import ConsumedMessage, MessageHandler
from ports.publisher import Publisher

KAFKA = MessagingSystemValues.KAFKA.value
SEND = MessagingOperationTypeValues.SEND.value
PROCESS = MessagingOperationTypeValues.PROCESS.value
OUTBOX_ID = "cruncan.outbox.id"
NOT_ACKNOWLEDGED = "not_acknowledged"


class TracingPublisher(Publisher):
    """A PRODUCER span `send {topic}` per message, child of the trace context stored in the
    message's headers; the messages handed to `inner` carry the producer span's context instead.
    A message the broker did not acknowledge ends its span in error. A message whose request was not
    sampled gets no span (the sampler would drop it) and goes out with the context it was stored with,
    which tells the worker not to sample it either."""

    def __init__(self, inner: Publisher, telemetry: Telemetry, *, topic: str) -> None:
        self._inner = inner
        self._tracer = telemetry.tracer()
        self._propagator = telemetry.propagator
        self._name = f"send {topic}"
        self._attributes: dict[str, AttributeValue] = {
            MESSAGING_SYSTEM: KAFKA,
            MESSAGING_DESTINATION_NAME: topic,
            MESSAGING_OPERATION_TYPE: SEND,
            MESSAGING_OPERATION_NAME: SEND,
        }

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        spans: list[Span] = []
        outgoing: list[PendingMessage] = []
        for pending in messages:
            span, sent = self._start(pending)
            spans.append(span)
            outgoing.append(sent)
        try:
            delivered = self._inner.publish(outgoing)
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                _fail(span, type(exc).__qualname__, str(exc))
                span.end()
            raise
        for pending, span in zip(outgoing, spans, strict=True):
            if pending.outbox_id not in delivered:
                _fail(span, NOT_ACKNOWLEDGED, "the broker did not acknowledge the message")
            span.end()
        return delivered

    def _start(self, pending: PendingMessage) -> tuple[Span, PendingMessage]:
        """The message's span, and the message carrying its context."""
        message = pending.message
        parent = self._propagator.extract(message.headers)
        stored = get_current_span(parent).get_span_context()
        if stored.is_valid and not stored.trace_flags.sampled:
            return INVALID_SPAN, pending
        attributes: dict[str, AttributeValue] = {
            **self._attributes,
            MESSAGING_KAFKA_MESSAGE_KEY: message.key,
            MESSAGING_MESSAGE_BODY_SIZE: len(message.payload),
            OUTBOX_ID: pending.outbox_id,
        }
        span = self._tracer.start_span(self._name, parent, SpanKind.PRODUCER, attributes)
        headers = dict(message.headers)
        self._propagator.inject(headers, set_span_in_context(span, parent))
        return span, replace(pending, message=replace(message, headers=headers))


@contextmanager
def process_span(
    telemetry: Telemetry,
    headers: Mapping[str, str],
    *,
    topic: str,
    partition: int,
    offset: int,
    key: str | None = None,
    consumer_group: str | None = None,
    body_size: int | None = None,
) -> Iterator[Span]:
    """The current span while one consumed message is processed: CONSUMER `process {topic}`,
    child of the context in `headers` (the producer span) and linked to it. Without a context
    in `headers` it starts a new trace. An exception escaping the block marks it failed."""
    parent = telemetry.propagator.extract(headers)
    producer = get_current_span(parent).get_span_context()
    attributes: dict[str, AttributeValue] = {
        MESSAGING_SYSTEM: KAFKA,
        MESSAGING_DESTINATION_NAME: topic,
        MESSAGING_OPERATION_TYPE: PROCESS,
        MESSAGING_OPERATION_NAME: PROCESS,
        MESSAGING_DESTINATION_PARTITION_ID: str(partition),
        MESSAGING_KAFKA_OFFSET: offset,
    }
    if key is not None:
        attributes[MESSAGING_KAFKA_MESSAGE_KEY] = key
    if consumer_group is not None:
        attributes[MESSAGING_CONSUMER_GROUP_NAME] = consumer_group
    if body_size is not None:
        attributes[MESSAGING_MESSAGE_BODY_SIZE] = body_size
    with telemetry.tracer().start_as_current_span(
        f"process {topic}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=[Link(producer)] if producer.is_valid else None,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            raise


def traced_handler(handle: MessageHandler, telemetry: Telemetry, *, consumer_group: str) -> MessageHandler:
    """`handle` inside a `process_span` per message, continuing the trace its headers carry; a
    message dead-lettered ends its span in error, `error.type` naming the cause. `handle` itself
    when telemetry is disabled."""
    if not telemetry.enabled:
        return handle

    def handle_in_span(message: ConsumedMessage) -> ForwardOutcome:
        origin = message.origin
        with process_span(
            telemetry,
            message.text_headers(),
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=None if message.key is None else message.key.decode(errors="replace"),
            consumer_group=consumer_group,
            body_size=None if message.value is None else len(message.value),
        ) as span:
            outcome = handle(message)
            if isinstance(outcome, DeadLetter):
                _fail(span, outcome.cause.value, f"dead-lettered: {outcome.cause.value}")
            return outcome

    return handle_in_span


def _fail(span: Span, error_type: str, description: str) -> None:
    span.set_attribute(ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, description))
