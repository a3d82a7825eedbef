import json
from datetime import UTC, datetime

import pytest

from adapters.kafka.producer import KafkaPublisher
from domain.model.message import OutboxMessage, PendingMessage
from tests.support.kafka import read_messages

pytestmark = pytest.mark.kafka


def publisher_for(kafka_broker, topic, **extra):
    return KafkaPublisher(
        kafka_broker.bootstrap_servers,
        topic,
        partitions=3,
        replication_factor=1,
        linger_ms=5,
        delivery_timeout_ms=3000,
        request_timeout_ms=1000,
        **extra,
    )


def batch(first: int, last: int) -> list[PendingMessage]:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        PendingMessage(i, OutboxMessage(f"{i:020d}", f"message {i}".encode(), moment)) for i in range(first, last + 1)
    ]


def test_the_producer_runs_idempotently(kafka_broker, fresh_topic):
    statistics: list[dict] = []
    publisher = publisher_for(
        kafka_broker,
        fresh_topic,
        extra_config={"statistics.interval.ms": 50, "stats_cb": lambda text: statistics.append(json.loads(text))},
    )
    try:
        for first in range(1, 200, 5):
            assert publisher.publish(batch(first, first + 4)) == set(range(first, first + 5))
            if any(s.get("eos", {}).get("idemp_state") == "Assigned" for s in statistics):
                break
    finally:
        publisher.close(timeout_s=5.0)

    eos = next(s["eos"] for s in reversed(statistics) if "eos" in s)
    assert eos["idemp_state"] == "Assigned"
    assert eos["producer_id"] >= 0


@pytest.mark.parametrize("setting", ["acks", "enable.idempotence"])
def test_the_delivery_guarantees_cannot_be_configured_away(setting):
    with pytest.raises(ValueError, match=setting):
        KafkaPublisher(
            "127.0.0.1:9092",
            "topic",
            partitions=1,
            replication_factor=1,
            linger_ms=5,
            delivery_timeout_ms=3000,
            request_timeout_ms=1000,
            extra_config={setting: "1"},
        )


def test_a_broker_restarted_between_batches_costs_at_most_one_batch(kafka_broker, fresh_topic):
    publisher = publisher_for(kafka_broker, fresh_topic)
    try:
        assert publisher.publish(batch(1, 5)) == {1, 2, 3, 4, 5}
        kafka_broker.stop()
        kafka_broker.start()

        retry = batch(6, 10)
        delivered = publisher.publish(retry)
        delivered |= publisher.publish([p for p in retry if p.outbox_id not in delivered])

        assert delivered == {6, 7, 8, 9, 10}
        values = sorted(m.value for m in read_messages(kafka_broker.bootstrap_servers, fresh_topic, 5))
        assert values == sorted(p.message.payload for p in retry)
    finally:
        publisher.close(timeout_s=5.0)


def test_closing_twice_is_harmless(kafka_broker, fresh_topic):
    publisher = publisher_for(kafka_broker, fresh_topic)
    assert publisher.publish(batch(1, 1)) == {1}

    publisher.close(timeout_s=5.0)
    publisher.close(timeout_s=5.0)
