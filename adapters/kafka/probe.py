from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from adapters.kafka.config import LIBRDKAFKA_LOG, PLAINTEXT, KafkaConnection, client_config
from domain.model.errors import BrokerUnavailable
from ports.health import Probe


class KafkaProbe(Probe):
    """Asks the cluster for its metadata on a fresh connection each time, so a broker that
    came back is seen at once (a long-lived client would wait out its reconnect backoff)."""

    name = "kafka"

    def __init__(
        self, bootstrap_servers: str, timeout_s: float = 2.0, *, connection: KafkaConnection = PLAINTEXT
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._connection = connection
        self._timeout_s = timeout_s

    def check(self) -> None:
        admin = AdminClient(
            client_config(self._bootstrap_servers, "cruncan-probe", self._connection), logger=LIBRDKAFKA_LOG
        )
        try:
            metadata = admin.list_topics(timeout=self._timeout_s)
        except KafkaException as exc:
            error = exc.args[0]
            raise BrokerUnavailable(f"Kafka at {self._bootstrap_servers} unreachable: {error.str()}") from None
        if not metadata.brokers:
            raise BrokerUnavailable(f"Kafka at {self._bootstrap_servers} reports no brokers")
