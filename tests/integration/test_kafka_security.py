"""The Kafka security settings reach the wire, on a real broker.

Tansu 0.6.0 bounds what can run here: its `--cert` and `--key` options refuse each other, so no TLS
listener can be started, and with `--authentication` on, `tansu user create` is itself refused
(NotAuthenticated), so no SCRAM user can exist. What does run: a broker that requires SASL refuses a
client without it, and a client configured for SCRAM through cruncan's settings performs the SCRAM
exchange, which the broker answers for the user it was given (unknown there).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from adapters.kafka.config import LIBRDKAFKA_LOG, client_config
from adapters.kafka.probe import KafkaProbe
from adapters.telemetry.providers import Telemetry
from domain.model.errors import BrokerUnavailable, SourceUnavailable
from entrypoints.connections import kafka_connection
from entrypoints.redrive.container import build_container as build_redrive_container
from entrypoints.settings import load_settings
from harness.network import free_port
from harness.tansu import TansuBroker, tansu_binary

pytestmark = pytest.mark.kafka


class AuthenticatingBroker(TansuBroker):
    """A Tansu broker that requires SASL authentication of every client."""

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url, "--authentication"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise


@pytest.fixture
def authenticating_broker(tmp_path) -> Iterator[AuthenticatingBroker]:
    broker = AuthenticatingBroker(tansu_binary(), free_port(), tmp_path / "broker.log")
    broker.start()
    yield broker
    broker.stop()


def probe(broker: TansuBroker, *overrides: str) -> KafkaProbe:
    settings = load_settings(environ={}, overrides=list(overrides))
    return KafkaProbe(broker.bootstrap_servers, timeout_s=3.0, connection=kafka_connection(settings.messaging.kafka()))


def test_a_broker_requiring_sasl_refuses_a_plaintext_client(authenticating_broker):
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        probe(authenticating_broker).check()


def test_scram_settings_carry_the_credentials_to_the_broker(authenticating_broker, caplog):
    settings = load_settings(
        environ={},
        overrides=[
            "messaging.kafka.security_protocol=sasl_plaintext",
            "messaging.kafka.sasl_mechanism=SCRAM-SHA-512",
            "messaging.kafka.sasl_username=nobody-here",
            "messaging.kafka.sasl_password=s3cret",
        ],
    )
    config = client_config(
        authenticating_broker.bootstrap_servers, "cruncan-test", kafka_connection(settings.messaging.kafka())
    )
    admin = AdminClient(config, logger=LIBRDKAFKA_LOG)

    with caplog.at_level(logging.INFO, logger=LIBRDKAFKA_LOG.name), pytest.raises(KafkaException):
        admin.list_topics(timeout=3)
    admin.poll(0.5)  # librdkafka hands its queued log lines to the logger here

    assert "SASL SCRAM authentication failed: broker responded with unknown-user" in caplog.text, caplog.text
    assert "s3cret" not in caplog.text


def test_re_driving_dead_letters_reads_them_with_the_same_settings(authenticating_broker, caplog):
    """`cruncan redrive --from-dlq` reads the dead-letter topic as every other client reaches the broker
    (its reader once connected in plaintext whatever was set)."""
    settings = load_settings(
        environ={},
        overrides=[
            "messaging.backend=kafka",
            f"messaging.kafka.bootstrap_servers={authenticating_broker.bootstrap_servers}",
            "messaging.kafka.security_protocol=sasl_plaintext",
            "messaging.kafka.sasl_mechanism=SCRAM-SHA-512",
            "messaging.kafka.sasl_username=nobody-here",
            "messaging.kafka.sasl_password=s3cret",
        ],
    )
    reader = build_redrive_container(settings, Telemetry.disabled("cruncan-redrive")).letters(timeout_s=3.0)
    try:
        with caplog.at_level(logging.INFO, logger=LIBRDKAFKA_LOG.name), pytest.raises(SourceUnavailable):
            next(iter(reader.read()))
    finally:
        reader.close()

    assert "SASL SCRAM authentication failed: broker responded with unknown-user" in caplog.text, caplog.text
    assert "s3cret" not in caplog.text
