from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from adapters.kafka.admin import TopicSetupError
from adapters.kafka.config import PLAINTEXT, KafkaConnection
from adapters.kafka.reliable import ReliableProducer
from domain.model.errors import DeadLetterUnavailable
from ports.messages import DeadLetterMessage, DeadLetterQueue


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
            settings={"linger.ms": 0},
            extra_config=extra_config,
            connection=connection,
            why="dead letters rely on them",
        )
        self._lock = threading.Lock()

    def publish(self, message: DeadLetterMessage) -> None:
        with self._lock:
            try:
                producer = self._producer.ready()
            except TopicSetupError as exc:
                raise DeadLetterUnavailable(str(exc)) from None
            topic, wait_s = self._producer.topic, self._producer.report_wait_s
            report = _Report()
            try:
                producer.produce(
                    topic, value=message.value, key=message.key, headers=list(message.headers), on_delivery=report
                )
                deadline = time.monotonic() + wait_s
                while not report.done.is_set() and (left := deadline - time.monotonic()) > 0:
                    producer.poll(min(left, 0.1))
            except (BufferError, KafkaException) as exc:
                self._producer.discard()
                raise DeadLetterUnavailable(f"dead letter not produced to {topic}: {exc}") from None
            if not report.done.is_set() or report.error is not None:
                self._producer.discard()
                why = report.error.str() if report.error is not None else f"no acknowledgement in {wait_s:.1f} s"
                raise DeadLetterUnavailable(f"dead letter not acknowledged by {topic}: {why}")

    def close(self, timeout_s: float) -> None:
        with self._lock:
            self._producer.close(timeout_s)
