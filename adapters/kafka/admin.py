"""Topic administration: the relay's topic is created with the configured partition count if missing."""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not re-exported in the stub

from adapters.kafka.config import LIBRDKAFKA_LOG, PLAINTEXT, KafkaConnection, client_config

log = logging.getLogger(__name__)


class TopicSetupError(RuntimeError):
    """The topic could not be checked or created; the message says why."""


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    partitions: int,
    replication_factor: int,
    timeout_s: float,
    *,
    connection: KafkaConnection = PLAINTEXT,
) -> None:
    """Creates `topic` unless it exists. An existing topic is left as it is (a different partition count is
    logged, not changed: adding partitions moves keys to other partitions, which is an operator's decision)."""
    if partitions < 1 or replication_factor < 1:
        raise ValueError(f"topic {topic} needs at least one partition and one replica")
    admin = AdminClient(client_config(bootstrap_servers, "cruncan-admin", connection), logger=LIBRDKAFKA_LOG)
    existing = _partition_count(admin, bootstrap_servers, topic, timeout_s)
    if existing is None:
        _create(admin, bootstrap_servers, NewTopic(topic, partitions, replication_factor), timeout_s)
    elif existing != partitions:
        log.warning("topic %s has %d partitions, configured %d; leaving it unchanged", topic, existing, partitions)


def _partition_count(admin: AdminClient, bootstrap_servers: str, topic: str, timeout_s: float) -> int | None:
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise TopicSetupError(f"cannot reach Kafka at {bootstrap_servers}: {_reason(exc)}") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return None
    return len(found.partitions)


def _create(admin: AdminClient, bootstrap_servers: str, new_topic: NewTopic, timeout_s: float) -> None:
    # `admin` must outlive the future: a destroyed client fails its futures with _DESTROY.
    future = admin.create_topics([new_topic], operation_timeout=timeout_s, request_timeout=timeout_s)[new_topic.topic]
    try:
        future.result(timeout=timeout_s + 1.0)
    except FutureTimeout:
        raise TopicSetupError(f"creating topic {new_topic.topic} on {bootstrap_servers} timed out") from None
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise TopicSetupError(f"cannot create topic {new_topic.topic} on {bootstrap_servers}: {_reason(exc)}") from None
    log.info(
        "created topic %s with %d partitions, replication factor %d",
        new_topic.topic,
        new_topic.num_partitions,
        new_topic.replication_factor,
    )


def _reason(exc: KafkaException) -> str:
    error = exc.args[0]
    return f"{error.name()}: {error.str()}" if isinstance(error, KafkaError) else str(exc)
