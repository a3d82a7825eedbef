"""How the processes reach Postgres and Kafka, built from the `storage.postgres` and `messaging.kafka` settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg2 import ProgrammingError
from psycopg2.extensions import make_dsn

from adapters.kafka.config import KafkaConnection, check_with_librdkafka
from entrypoints.settings import SettingsError

KAFKA_SECTION = "messaging.kafka"


def postgres_dsn(dsn: str, password: str | None) -> str:
    """`dsn`, with its password replaced by `password` when one is set (read from its own secret file)."""
    if not password:
        return dsn
    try:
        return str(make_dsn(dsn, password=password))
    except ProgrammingError as exc:
        raise SettingsError(f"setting storage.postgres.dsn is not a valid connection string: {exc}") from None
    except UnicodeEncodeError:
        raise SettingsError("setting storage.postgres.password is not valid UTF-8 text") from None


def kafka_connection(kafka: Mapping[str, Any]) -> KafkaConnection:
    """The `messaging.kafka` security settings and `extra` properties; a `SettingsError` names what is wrong."""
    extra = kafka.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise SettingsError(f"setting {KAFKA_SECTION}.extra must be a mapping of librdkafka properties")
    try:
        return KafkaConnection(
            security_protocol=str(kafka.get("security_protocol") or "plaintext"),
            ssl_ca_location=kafka.get("ssl_ca_location"),
            ssl_certificate_location=kafka.get("ssl_certificate_location"),
            ssl_key_location=kafka.get("ssl_key_location"),
            ssl_key_password=kafka.get("ssl_key_password"),
            sasl_mechanism=kafka.get("sasl_mechanism"),
            sasl_username=kafka.get("sasl_username"),
            sasl_password=kafka.get("sasl_password"),
            extra=dict(extra),
        )
    except ValueError as exc:
        raise SettingsError(f"{KAFKA_SECTION}: {exc}") from None


def check_kafka_connection(kafka: Mapping[str, Any]) -> None:
    """Fails start-up when librdkafka refuses the connection settings (an unknown or malformed property,
    a certificate or key it cannot read), before any client is needed."""
    try:
        check_with_librdkafka(kafka_connection(kafka))
    except ValueError as exc:
        raise SettingsError(f"{KAFKA_SECTION}: librdkafka refuses the settings: {exc}") from None
