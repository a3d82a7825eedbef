"""librdkafka settings every cruncan Kafka client shares."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

LIBRDKAFKA_LOG = logging.getLogger("adapters.kafka.librdkafka")
"""Pass as `logger=` to every client, so librdkafka's own messages go through Python logging."""

Config = dict[str, str | int | float | bool]


def client_config(bootstrap_servers: str, client_id: str) -> Config:
    """The base of a Producer, Consumer or AdminClient configuration."""
    return {"bootstrap.servers": bootstrap_servers, "client.id": client_id}


def with_guarantees(
    config: Mapping[str, Any], guarantees: Mapping[str, Any], extra_config: Mapping[str, Any] | None, why: str
) -> dict[str, Any]:
    """`config` with `guarantees` and `extra_config` on top. `extra_config` may change anything but the
    guarantees: a `ValueError` names those it tries to change, and says `why` they cannot be."""
    overridden = sorted(set(extra_config or {}) & set(guarantees))
    if overridden:
        raise ValueError(f"{', '.join(overridden)} cannot be changed: {why}")
    return {**config, **guarantees, **(extra_config or {})}
