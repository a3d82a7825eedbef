import json
import time
from datetime import UTC, datetime

import pytest

from adapters.kafka.producer import KafkaPublisher
from domain.model.message import OutboxMessage, PendingMessage
from harness.kafka import read_messages

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
    deadline, first = time.monotonic() + 10.0, 1
    try:
        while not assigned_pids(statistics) and time.monotonic() < deadline:
            assert publisher.publish(batch(first, first + 4)) == set(range(first, first + 5))
            first += 5
    finally:
        publisher.close(timeout_s=5.0)

    assert assigned_pids(statistics), f"no producer ID was ever assigned: {[s.get('eos') for s in statistics]}"
    assert min(assigned_pids(statistics)) >= 0


def assigned_pids(statistics: list[dict]) -> list[int]:
    """Producer IDs from librdkafka's statistics while idempotence was set up (never, if it is off)."""
    return [s["eos"]["producer_id"] for s in statistics if s.get("eos", {}).get("idemp_state") == "Assigned"]


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
