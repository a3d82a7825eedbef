import pytest

from adapters.kafka.probe import KafkaProbe
from domain.model.errors import BrokerUnavailable

pytestmark = pytest.mark.kafka


def test_the_probe_passes_while_the_broker_answers(kafka_broker):
    KafkaProbe(kafka_broker.bootstrap_servers, timeout_s=2.0).check()


def test_the_probe_fails_with_a_short_reason_while_the_broker_is_down_and_recovers_with_it(kafka_broker):
    probe = KafkaProbe(kafka_broker.bootstrap_servers, timeout_s=1.0)

    with (
        kafka_broker.outage(),
        pytest.raises(BrokerUnavailable, match=f"Kafka at {kafka_broker.bootstrap_servers} unreachable"),
    ):
        probe.check()

    probe.check()


def test_the_probe_is_named_for_health_reports():
    assert KafkaProbe("127.0.0.1:9092").name == "kafka"
