"""librdkafka settings every cruncan Kafka client shares: where the brokers are and how to reach them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from confluent_kafka import KafkaException, Producer

LIBRDKAFKA_LOG = logging.getLogger("adapters.kafka.librdkafka")
"""Pass as `logger=` to every client, so librdkafka's own messages go through Python logging."""

Config = dict[str, str | int | float | bool]

PROTOCOLS = ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
TYPED_PROPERTIES = MappingProxyType(
    {
        "security.protocol": "security_protocol",
        "ssl.ca.location": "ssl_ca_location",
        "ssl.certificate.location": "ssl_certificate_location",
        "ssl.key.location": "ssl_key_location",
        "ssl.key.password": "ssl_key_password",
        "sasl.mechanism": "sasl_mechanism",
        "sasl.mechanisms": "sasl_mechanism",
        "sasl.username": "sasl_username",
        "sasl.password": "sasl_password",
    }
)
"""librdkafka properties a `KafkaConnection` field sets, so `extra` may not."""
CLIENT_PROPERTIES = frozenset(
    {
        "bootstrap.servers",
        "client.id",
        "group.id",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "auto.offset.reset",
        "partition.assignment.strategy",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "enable.idempotence",
        "acks",
        "linger.ms",
        "partitioner",
        "delivery.timeout.ms",
        "request.timeout.ms",
    }
)
"""librdkafka properties the clients set from their own settings or guarantees, so `extra` may not."""


@dataclass(frozen=True)
class KafkaConnection:
    """How every client reaches the brokers: TLS (`ssl`), SASL (`sasl_plaintext`, `sasl_ssl`) or neither,
    and `extra` librdkafka properties for anything else. `ValueError` names an inconsistent field; the
    passwords stay out of `repr`."""

    security_protocol: str = "plaintext"
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    extra: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        protocol = self.security_protocol.lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"security_protocol is {self.security_protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        object.__setattr__(self, "security_protocol", protocol)
        self._check_ssl(protocol)
        self._check_sasl(protocol)
        clashing = sorted(key for key in self.extra if key in TYPED_PROPERTIES)
        if clashing:
            named = ", ".join(f"{key} (set by {TYPED_PROPERTIES[key]})" for key in clashing)
            raise ValueError(f"extra sets {named}: use the setting instead")
        odd = sorted(str(key) for key, value in self.extra.items() if not isinstance(value, str | int | float | bool))
        if odd:
            raise ValueError(f"extra {', '.join(odd)}: a librdkafka property takes a string, number or boolean")
        reserved = sorted(key for key in self.extra if key in CLIENT_PROPERTIES)
        if reserved:
            raise ValueError(f"extra sets {', '.join(reserved)}, which cruncan's clients set from their own settings")

    def properties(self) -> Config:
        """The librdkafka properties to add to a client's configuration."""
        typed: dict[str, str | None] = {
            "security.protocol": self.security_protocol,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
        }
        return {**self.extra, **{key: value for key, value in typed.items() if value}}

    def _check_ssl(self, protocol: str) -> None:
        given = [
            name for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location") if getattr(self, name)
        ]
        if self.ssl_key_password:
            given.append("ssl_key_password")
        if given and not protocol.endswith("ssl"):
            raise ValueError(f"{', '.join(given)} set, but security_protocol {protocol} does not use TLS")
        if bool(self.ssl_certificate_location) != bool(self.ssl_key_location):
            raise ValueError(
                "ssl_certificate_location and ssl_key_location go together (a client certificate and its key)"
            )

    def _check_sasl(self, protocol: str) -> None:
        given = [name for name in ("sasl_mechanism", "sasl_username", "sasl_password") if getattr(self, name)]
        if not protocol.startswith("sasl"):
            if given:
                raise ValueError(f"{', '.join(given)} set, but security_protocol {protocol} does not use SASL")
            return
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"sasl_mechanism is {self.sasl_mechanism!r}; {protocol} needs one of {', '.join(SASL_MECHANISMS)}"
            )
        missing = [name for name in ("sasl_username", "sasl_password") if not getattr(self, name)]
        if missing:
            raise ValueError(f"{' and '.join(missing)} required by {protocol}")


PLAINTEXT = KafkaConnection()


def check_with_librdkafka(connection: KafkaConnection) -> None:
    """Builds a throwaway client from `connection` (it contacts no broker), so librdkafka itself refuses an
    unknown property, a bad value or an unreadable certificate or key: a `ValueError` with its reason."""
    try:
        Producer(connection.properties(), logger=LIBRDKAFKA_LOG).flush(0)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        raise ValueError(error.str() if hasattr(error, "str") else str(error)) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None


def client_config(bootstrap_servers: str, client_id: str, connection: KafkaConnection = PLAINTEXT) -> Config:
    """The base of a Producer, Consumer or AdminClient configuration."""
    return {**connection.properties(), "bootstrap.servers": bootstrap_servers, "client.id": client_id}


def with_guarantees(
    config: Mapping[str, Any], guarantees: Mapping[str, Any], extra_config: Mapping[str, Any] | None, why: str
) -> dict[str, Any]:
    """`config` with `guarantees` and `extra_config` on top. `extra_config` may change anything but the
    guarantees: a `ValueError` names those it tries to change, and says `why` they cannot be."""
    overridden = sorted(set(extra_config or {}) & set(guarantees))
    if overridden:
        raise ValueError(f"{', '.join(overridden)} cannot be changed: {why}")
    return {**config, **guarantees, **(extra_config or {})}
