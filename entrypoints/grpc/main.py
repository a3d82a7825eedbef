"""`cruncan grpc`: serve OneService over gRPC; run the outbox relay beside it unless `relay.embedded` is off."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from entrypoints.grpc.container import GrpcContainer, build_container
from entrypoints.grpc.server import GrpcServer
from entrypoints.lifecycle import Service, run_until_signalled
from runtime.background import BackgroundLoop

log = logging.getLogger(__name__)


def grpc_services(container: GrpcContainer) -> tuple[GrpcServer, list[tuple[Service, float]]]:
    """The services in start order: the relay first, the gRPC server last (so it drains first)."""
    config = container.config
    container.ingest()
    server = container.server()
    services: list[tuple[Service, float]] = []
    if config.relay.embedded():
        container.relaying.observe_backlog()
        relay = BackgroundLoop("outbox relay", container.relaying.loop().run)
        services.append((relay, config.relay.shutdown_timeout_s()))
    services.append((server, config.grpc.shutdown_timeout_s()))
    return server, services


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = log.info) -> int:
    container = build_container(settings, telemetry)
    try:
        server, services = grpc_services(container)
        clean = run_until_signalled(
            services, on_started=lambda: announce(f"cruncan grpc listening on grpc://{server.target}")
        )
    finally:
        container.shutdown_resources()
    return 0 if clean else 1
