import logging
import threading

import pytest

from adapters.kafka.admin import TopicSetupError, ensure_topic
from harness.kafka import create_topic, list_topics

pytestmark = pytest.mark.kafka


def test_a_missing_topic_is_created_with_the_configured_partitions(kafka_broker, fresh_topic):
    ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=5, replication_factor=1, timeout_s=5.0)

    assert list_topics(kafka_broker.bootstrap_servers)[fresh_topic] == 5


def test_ensuring_an_existing_topic_again_changes_nothing(kafka_broker, fresh_topic):
    ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=2, replication_factor=1, timeout_s=5.0)
    ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=2, replication_factor=1, timeout_s=5.0)

    assert list_topics(kafka_broker.bootstrap_servers)[fresh_topic] == 2


def test_an_existing_topic_with_other_partitions_is_left_alone_and_reported(kafka_broker, fresh_topic, caplog):
    create_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=1)

    with caplog.at_level(logging.WARNING, logger="adapters.kafka.admin"):
        ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=4, replication_factor=1, timeout_s=5.0)

    assert list_topics(kafka_broker.bootstrap_servers)[fresh_topic] == 1
    assert f"topic {fresh_topic} has 1 partitions, configured 4" in caplog.text


def test_several_replicas_ensuring_the_topic_at_once_all_succeed(kafka_broker, fresh_topic):
    errors: list[BaseException] = []

    def ensure() -> None:
        try:
            ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=3, replication_factor=1, timeout_s=5.0)
        except BaseException as exc:
            errors.append(exc)

    replicas = [threading.Thread(target=ensure) for _ in range(8)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join()

    assert errors == []
    assert list_topics(kafka_broker.bootstrap_servers)[fresh_topic] == 3


def test_a_topic_without_partitions_is_refused_before_asking_the_broker(fresh_topic):
    with pytest.raises(ValueError, match="at least one partition"):
        ensure_topic("127.0.0.1:1", fresh_topic, partitions=0, replication_factor=1, timeout_s=1.0)


def test_an_unreachable_broker_is_a_clear_error(kafka_broker, fresh_topic):
    with (
        kafka_broker.outage(),
        pytest.raises(TopicSetupError, match=f"cannot reach Kafka at {kafka_broker.bootstrap_servers}"),
    ):
        ensure_topic(kafka_broker.bootstrap_servers, fresh_topic, partitions=3, replication_factor=1, timeout_s=1.0)
