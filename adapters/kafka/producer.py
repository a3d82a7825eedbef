from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from adapters.kafka.admin import TopicSetupError
from adapters.kafka.config import PLAINTEXT, KafkaConnection
from adapters.kafka.reliable import ReliableProducer, raise_unless_kafka_error
from domain.model.message import PendingMessage
from ports.publisher import Publisher

log = logging.getLogger(__name__)


class _Deliveries:
    """The delivery reports of one batch, as librdkafka hands them back."""

    def __init__(self) -> None:
        self.produced = 0
        self.delivered: set[int] = set()
        self.failed: dict[int, KafkaError] = {}
        self.broken_by: KafkaError | None = None

    @property
    def outstanding(self) -> int:
        return self.produced - len(self.delivered) - len(self.failed)

    def report(self, outbox_id: int, error: KafkaError | None, _message: Message | None) -> None:
        if error is None:
            self.delivered.add(outbox_id)
        else:
            self.failed[outbox_id] = error


class KafkaPublisher(Publisher):
    """Publishes each message to `topic`, keyed by request ID, with an idempotent producer (`acks=all`).

    `publish` waits for every delivery report (at most `delivery_timeout_ms` and a grace second) and returns
    only the IDs the broker acknowledged. The topic is created on first use if missing, so a broker that is
    down at start-up delays publication instead of stopping the service. After a batch with failures the
    next batch starts on a fresh producer: an idempotent producer can stay stuck after the broker lost its
    producer state, and the failed messages are published again from the outbox anyway.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        partitions: int,
        replication_factor: int,
        linger_ms: int,
        delivery_timeout_ms: int,
        request_timeout_ms: int,
        client_id: str = "cruncan-relay",
        extra_config: Mapping[str, Any] | None = None,
        connection: KafkaConnection = PLAINTEXT,
    ) -> None:
        self._producer = ReliableProducer(
            bootstrap_servers,
            topic,
            partitions=partitions,
            replication_factor=replication_factor,
            delivery_timeout_ms=delivery_timeout_ms,
            request_timeout_ms=request_timeout_ms,
            client_id=client_id,
            settings={"linger.ms": linger_ms, "partitioner": "murmur2_random"},
            extra_config=extra_config,
            connection=connection,
            why="publication relies on them",
        )
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        if not messages:
            return set()
        with self._lock:
            try:
                producer = self._producer.ready()
            except TopicSetupError as exc:
                log.warning("not publishing yet: %s", exc)
                return set()
            deliveries = _Deliveries()
            try:
                self._produce(producer, messages, deliveries, deadline=time.monotonic() + self._producer.report_wait_s)
            except (KafkaException, SystemError) as exc:
                raise_unless_kafka_error(exc)
                deliveries.broken_by = _error_of(exc)
            if len(deliveries.delivered) < len(messages):
                self._log_undelivered(deliveries, len(messages))
                self._producer.discard()
            return set(deliveries.delivered)

    def close(self, timeout_s: float) -> None:
        """Waits up to `timeout_s` for messages still in flight, then shuts the producer down."""
        with self._lock:
            left = self._producer.close(timeout_s)
        if left:
            log.warning("closing the Kafka producer with %d messages unconfirmed; the outbox keeps them", left)

    def _produce(
        self, producer: Producer, messages: Sequence[PendingMessage], deliveries: _Deliveries, deadline: float
    ) -> None:
        for pending in messages:
            error = self._enqueue(producer, pending, deliveries, deadline)
            if error is None:
                deliveries.produced += 1
            else:
                deliveries.failed[pending.outbox_id] = error
        while deliveries.outstanding > 0 and time.monotonic() < deadline:
            producer.flush(max(deadline - time.monotonic(), 0.0))

    def _enqueue(
        self, producer: Producer, pending: PendingMessage, deliveries: _Deliveries, deadline: float
    ) -> KafkaError | None:
        message = pending.message
        while True:
            try:
                producer.produce(
                    self._producer.topic,
                    value=message.payload,
                    key=message.key,
                    headers=[(name, value.encode()) for name, value in message.headers.items()],
                    on_delivery=functools.partial(deliveries.report, pending.outbox_id),
                )
            except BufferError:
                if time.monotonic() >= deadline:
                    return KafkaError(KafkaError._QUEUE_FULL)
                producer.poll(0.1)
            except KafkaException as exc:
                error = _error_of(exc)
                if error.fatal() or error.code() == KafkaError._FATAL:
                    raise
                return error
            else:
                return None

    def _log_undelivered(self, deliveries: _Deliveries, total: int) -> None:
        reasons = sorted({error.name() for error in deliveries.failed.values()})
        if deliveries.broken_by is not None:
            reasons.append(f"producer failed: {deliveries.broken_by.str()}")
        elif deliveries.outstanding > 0:
            reasons.append(f"{deliveries.outstanding} without a report after {self._producer.report_wait_s:.1f} s")
        log.warning(
            "%d of %d messages not published to %s (%s)",
            total - len(deliveries.delivered),
            total,
            self._producer.topic,
            ", ".join(reasons),
        )


def _error_of(exc: BaseException) -> KafkaError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, KafkaException) and cause.args and isinstance(cause.args[0], KafkaError):
            return cause.args[0]
        cause = cause.__cause__ or cause.__context__
    return KafkaError(KafkaError._FAIL, str(exc))
