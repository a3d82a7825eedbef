from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from adapters.kafka.admin import TopicSetupError, ensure_topic
from adapters.kafka.config import LIBRDKAFKA_LOG, client_config
from domain.model.message import PendingMessage
from ports.publisher import Publisher

log = logging.getLogger(__name__)

GUARANTEES = {"enable.idempotence": True, "acks": "all"}
REPORT_GRACE_S = 1.0


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
    ) -> None:
        overridden = sorted(set(extra_config or {}) & set(GUARANTEES))
        if overridden:
            raise ValueError(f"{', '.join(overridden)} cannot be changed: publication relies on them")
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._request_timeout_s = request_timeout_ms / 1000
        self._wait_s = delivery_timeout_ms / 1000 + REPORT_GRACE_S
        self._config: dict[str, Any] = {
            **client_config(bootstrap_servers, client_id),
            **GUARANTEES,
            "linger.ms": linger_ms,
            "delivery.timeout.ms": delivery_timeout_ms,
            "request.timeout.ms": request_timeout_ms,
            "partitioner": "murmur2_random",
            "error_cb": _log_client_error,
            **(extra_config or {}),
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._topic_ready = False

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        if not messages:
            return set()
        with self._lock:
            if not self._ensure_topic():
                return set()
            producer = self._producer if self._producer is not None else self._new_producer()
            deliveries = _Deliveries()
            try:
                self._produce(producer, messages, deliveries, deadline=time.monotonic() + self._wait_s)
            except (KafkaException, SystemError) as exc:
                _raise_unless_kafka_error(exc)
                deliveries.broken_by = _error_of(exc)
            if len(deliveries.delivered) < len(messages):
                self._log_undelivered(deliveries, len(messages))
                self._discard(producer)
            return set(deliveries.delivered)

    def close(self, timeout_s: float) -> None:
        """Waits up to `timeout_s` for messages still in flight, then shuts the producer down."""
        with self._lock:
            producer, self._producer = self._producer, None
            if producer is None:
                return
            try:
                left = producer.flush(timeout_s)
            except (KafkaException, SystemError) as exc:
                _raise_unless_kafka_error(exc)
                left = len(producer)
            if left:
                log.warning("closing the Kafka producer with %d messages unconfirmed; the outbox keeps them", left)
            self._discard(producer)
            producer.close()

    def _ensure_topic(self) -> bool:
        if not self._topic_ready:
            try:
                ensure_topic(
                    self._bootstrap_servers,
                    self._topic,
                    self._partitions,
                    self._replication_factor,
                    self._request_timeout_s,
                )
            except TopicSetupError as exc:
                log.warning("not publishing yet: %s", exc)
                return False
            self._topic_ready = True
        return True

    def _new_producer(self) -> Producer:
        self._producer = Producer(self._config, logger=LIBRDKAFKA_LOG)
        return self._producer

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
                    self._topic,
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

    def _discard(self, producer: Producer) -> None:
        """Drops a producer and whatever it still holds; late successful reports still count."""
        self._producer = None
        try:
            producer.purge()
            producer.flush(0)
        except (KafkaException, SystemError) as exc:
            _raise_unless_kafka_error(exc)

    def _log_undelivered(self, deliveries: _Deliveries, total: int) -> None:
        reasons = sorted({error.name() for error in deliveries.failed.values()})
        if deliveries.broken_by is not None:
            reasons.append(f"producer failed: {deliveries.broken_by.str()}")
        elif deliveries.outstanding > 0:
            reasons.append(f"{deliveries.outstanding} without a report after {self._wait_s:.1f} s")
        log.warning(
            "%d of %d messages not published to %s (%s)",
            total - len(deliveries.delivered),
            total,
            self._topic,
            ", ".join(reasons),
        )


def _log_client_error(error: KafkaError) -> None:
    log.warning("Kafka client error: %s", error.str())


def _error_of(exc: BaseException) -> KafkaError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, KafkaException) and cause.args and isinstance(cause.args[0], KafkaError):
            return cause.args[0]
        cause = cause.__cause__ or cause.__context__
    return KafkaError(KafkaError._FAIL, str(exc))


def _raise_unless_kafka_error(exc: BaseException) -> None:
    """confluent-kafka reports a fatal error by raising from inside poll/flush; when a delivery callback runs
    after that, CPython turns it into a SystemError caused by the KafkaException. Anything else is a bug."""
    if isinstance(exc, SystemError) and not isinstance(exc.__cause__ or exc.__context__, KafkaException):
        raise exc
