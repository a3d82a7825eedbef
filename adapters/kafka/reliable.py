"""The producer behind the publisher and the dead-letter queue: idempotent, for one topic, and
replaced after a failure."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from adapters.kafka.admin import ensure_topic
from adapters.kafka.config import LIBRDKAFKA_LOG, KafkaConnection, client_config, with_guarantees

log = logging.getLogger(__name__)

GUARANTEES = {"enable.idempotence": True, "acks": "all"}
REPORT_GRACE_S = 1.0


class ReliableProducer:
    """An idempotent producer (`acks=all`, which `extra_config` cannot change) for `topic`.

    `ready()` creates the topic on first use if missing, then the producer. `discard()` drops the
    producer after a failed delivery, with whatever it still holds: an idempotent producer can stay
    stuck after the broker lost its producer state, so the next `ready()` starts a fresh one. A
    delivery report is worth waiting for `report_wait_s`: the delivery timeout and a grace second.
    Not thread-safe: its owner makes one call at a time.
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
        client_id: str,
        settings: Mapping[str, Any],
        extra_config: Mapping[str, Any] | None,
        why: str,
        connection: KafkaConnection,
    ) -> None:
        self.topic = topic
        self.report_wait_s = delivery_timeout_ms / 1000 + REPORT_GRACE_S
        self._bootstrap_servers = bootstrap_servers
        self._partitions = partitions
        self._replication_factor = replication_factor
        self._request_timeout_s = request_timeout_ms / 1000
        self._connection = connection
        self._config = with_guarantees(
            {
                **client_config(bootstrap_servers, client_id, connection),
                **settings,
                "delivery.timeout.ms": delivery_timeout_ms,
                "request.timeout.ms": request_timeout_ms,
                "error_cb": _log_client_error,
            },
            GUARANTEES,
            extra_config,
            why,
        )
        self._producer: Producer | None = None
        self._topic_ready = False

    def ready(self) -> Producer:
        """The producer, once the topic exists; raises `TopicSetupError` while it cannot be checked or created."""
        if not self._topic_ready:
            ensure_topic(
                self._bootstrap_servers,
                self.topic,
                self._partitions,
                self._replication_factor,
                self._request_timeout_s,
                connection=self._connection,
            )
            self._topic_ready = True
        if self._producer is None:
            self._producer = Producer(self._config, logger=LIBRDKAFKA_LOG)
        return self._producer

    def discard(self) -> None:
        """Drops the producer and whatever it still holds; the reports of what it delivered still arrive."""
        producer, self._producer = self._producer, None
        if producer is not None:
            self._purge(producer)

    def close(self, timeout_s: float) -> int:
        """Waits up to `timeout_s` for messages still in flight, then shuts the producer down; returns how
        many of them were left unconfirmed."""
        producer, self._producer = self._producer, None
        if producer is None:
            return 0
        try:
            left = producer.flush(timeout_s)
        except (KafkaException, SystemError) as exc:
            raise_unless_kafka_error(exc)
            left = len(producer)
        self._purge(producer)
        producer.close()
        return left

    def _purge(self, producer: Producer) -> None:
        try:
            producer.purge()
            producer.flush(0)
        except (KafkaException, SystemError) as exc:
            raise_unless_kafka_error(exc)
            log.warning("discarding the producer of %s: %s", self.topic, exc)


def raise_unless_kafka_error(exc: BaseException) -> None:
    """confluent-kafka reports a fatal error by raising from inside poll/flush; when a delivery callback runs
    after that, CPython turns it into a SystemError caused by the KafkaException. Anything else is a bug."""
    if isinstance(exc, SystemError) and not isinstance(exc.__cause__ or exc.__context__, KafkaException):
        raise exc


def _log_client_error(error: KafkaError) -> None:
    log.warning("Kafka client error: %s", error.str())
