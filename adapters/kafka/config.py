"""librdkafka settings every cruncan Kafka client shares."""

from __future__ import annotations

import logging

LIBRDKAFKA_LOG = logging.getLogger("adapters.kafka.librdkafka")
"""Pass as `logger=` to every client, so librdkafka's own messages go through Python logging."""

Config = dict[str, str | int | float | bool]


def client_config(bootstrap_servers: str, client_id: str) -> Config:
    """The base of a Producer, Consumer or AdminClient configuration."""
    return {"bootstrap.servers": bootstrap_servers, "client.id": client_id}
