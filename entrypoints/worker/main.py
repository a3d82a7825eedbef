"""`cruncan worker`: forward the requests topic to the third party until SIGINT/SIGTERM; several may run at once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from entrypoints.lifecycle import run_until_signalled
from entrypoints.settings import SettingsError, require, setting
from entrypoints.worker.container import WorkerContainer, build_container
from entrypoints.worker.health_server import HealthServer, health_app
from runtime.background import BackgroundLoop

log = logging.getLogger(__name__)

HEALTH_STOP_S = 2.0
CLOSE_MARGIN_S = 10.0
"""Beyond `worker.shutdown_timeout_s` (the drain), time to commit, leave the group and close."""


def consumer(container: WorkerContainer) -> tuple[BackgroundLoop, float]:
    """The consume loop, built on this thread with everything the configuration selects, and how
    long it may take to stop."""
    container.storage.probe()
    loop = BackgroundLoop("consumer", container.loop().run)
    return loop, container.config.worker.shutdown_timeout_s() + CLOSE_MARGIN_S


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = log.info) -> int:
    if setting(settings, "messaging.backend") != "kafka":
        raise SettingsError(
            "cruncan worker reads Kafka: set messaging.backend=kafka "
            "(the in-memory broker lives inside one process: `cruncan demo` runs the worker beside the API)"
        )
    require(settings, ["token.client_secret"])
    container = build_container(settings, telemetry)
    try:
        loop, stop_timeout_s = consumer(container)
        health = health_server(container)
        container.observability.metrics().observe_consumer_lag(container.source().lag)
        topic, third_party = settings.messaging.kafka.topic(), settings.third_party.url()
        # The health server starts first and stops last: it keeps answering while the loop drains.
        clean = run_until_signalled(
            [(health, HEALTH_STOP_S), (loop, stop_timeout_s)],
            on_started=lambda: announce(f"cruncan worker forwarding {topic} to {third_party}; health on {health.url}"),
        )
    finally:
        container.shutdown_resources()
    return 0 if clean else 1


def health_server(container: WorkerContainer) -> HealthServer:
    """The `/healthz` and `/readyz` server on `worker.health`; a port it cannot bind stops start-up."""
    host, port = container.config.worker.health.host(), container.config.worker.health.port()
    try:
        return HealthServer(health_app(container.health()), host, port)
    except OSError as exc:
        raise SettingsError(f"worker.health: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
