from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from adapters.kafka.admin import TopicSetupError, ensure_topic
from adapters.kafka.config import LIBRDKAFKA_LOG, client_config
from ports.messages import DeadLetterMessage, DeadLetterQueue, DeadLetterUnavailable

log = logging.getLogger(__name__)

GUARANTEES = {"enable.idempotence": True, "acks": "all"}
REPORT_GRACE_S = 1.0


class _Report:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, _message: Message | None) -> None:
        self.error = error
        self.done.set()


class KafkaDeadLetterQueue(DeadLetterQueue):
    """Publishes dead letters to `topic` with an idempotent producer (`acks=all`), one at a time,
    each `publish` waiting for the broker's acknowledgement (at most `delivery_timeout_ms` and a
    grace second). The topic is created on first use if missing. A producer that failed a delivery
    is replaced by a fresh one, as an idempotent producer can stay stuck after the broker lost its
    state; the caller sends the message again.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        partitions: int,
        replication_factor: int,
        delivery_timeout_ms: int,
        request_timeout_ms: int,
        client_id: str = "cruncan-worker-dlq",
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        overridden = sorted(set(extra_config or {}) & set(GUARANTEES))
        if overridden:
            raise ValueError(f"{', '.join(overridden)} cannot be changed: dead letters rely on them")
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._request_timeout_s = request_timeout_ms / 1000
        self._wait_s = delivery_timeout_ms / 1000 + REPORT_GRACE_S
        self._config: dict[str, Any] = {
            **client_config(bootstrap_servers, client_id),
            **GUARANTEES,
            "linger.ms": 0,
            "delivery.timeout.ms": delivery_timeout_ms,
            "request.timeout.ms": request_timeout_ms,
            "error_cb": _log_client_error,
            **(extra_config or {}),
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._topic_ready = False

    def publish(self, message: DeadLetterMessage) -> None:
        with self._lock:
            self._ensure_topic()
            producer = self._producer if self._producer is not None else self._new_producer()
            report = _Report()
            try:
                producer.produce(
                    self._topic, value=message.value, key=message.key, headers=list(message.headers), on_delivery=report
                )
                deadline = time.monotonic() + self._wait_s
                while not report.done.is_set() and (left := deadline - time.monotonic()) > 0:
                    producer.poll(min(left, 0.1))
            except (BufferError, KafkaException) as exc:
                self._discard(producer)
                raise DeadLetterUnavailable(f"dead letter not produced to {self._topic}: {exc}") from None
            if not report.done.is_set() or report.error is not None:
                self._discard(producer)
                why = report.error.str() if report.error is not None else f"no acknowledgement in {self._wait_s:.1f} s"
                raise DeadLetterUnavailable(f"dead letter not acknowledged by {self._topic}: {why}")

    def close(self, timeout_s: float) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                producer.flush(timeout_s)

    def _ensure_topic(self) -> None:
        if self._topic_ready:
            return
        try:
            ensure_topic(
                self._bootstrap_servers,
                self._topic,
                self._partitions,
                self._replication_factor,
                self._request_timeout_s,
            )
        except TopicSetupError as exc:
            raise DeadLetterUnavailable(str(exc)) from None
        self._topic_ready = True

    def _new_producer(self) -> Producer:
        self._producer = Producer(self._config, logger=LIBRDKAFKA_LOG)
        return self._producer

    def _discard(self, producer: Producer) -> None:
        self._producer = None
        try:
            producer.purge()
            producer.flush(0)
        except KafkaException as exc:
            log.warning("discarding the dead-letter producer: %s", exc)


def _log_client_error(error: KafkaError) -> None:
    log.warning("Kafka client error: %s", error.str())
