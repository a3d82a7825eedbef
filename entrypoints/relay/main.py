"""`cruncan relay`: publish the outbox until SIGINT/SIGTERM; several may run at once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from entrypoints.lifecycle import run_until_signalled
from entrypoints.relay.container import build_container
from runtime.background import BackgroundLoop

log = logging.getLogger(__name__)


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = log.info) -> int:
    container = build_container(settings, telemetry)
    try:
        container.relaying.observe_backlog()
        relay = BackgroundLoop("outbox relay", container.relaying.loop().run)
        topic = container.config.messaging.kafka.topic()
        clean = run_until_signalled(
            [(relay, container.config.relay.shutdown_timeout_s())],
            on_started=lambda: announce(f"cruncan relay publishing the outbox to {topic}"),
        )
    finally:
        container.shutdown_resources()
    return 0 if clean else 1
