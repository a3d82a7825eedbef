"""`cruncan api`: serve the API; run the outbox relay beside it unless `relay.embedded` is off."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from dependency_injector import providers
from flask import Blueprint

from adapters.telemetry.providers import Telemetry
from entrypoints.api.app import create_app
from entrypoints.api.container import ApiContainer, build_container
from entrypoints.api.server import WaitressServer
from entrypoints.api.waitress_shim import HttpLimits
from entrypoints.lifecycle import Service, run_until_signalled
from runtime.background import BackgroundLoop

log = logging.getLogger(__name__)


def api_services(
    container: ApiContainer, extra: Sequence[Blueprint] = ()
) -> tuple[WaitressServer, list[tuple[Service, float]]]:
    """The API's services in start order: the relay first, the HTTP server last (so it drains first);
    the app serves `extra` blueprints too.

    Everything the configuration selects is built here, on one thread, before any request arrives."""
    config = container.config
    container.probes()
    container.ingest()
    limits = HttpLimits(
        connection_limit=config.http.connection_limit(),
        header_timeout_s=config.http.header_timeout_s(),
        body_timeout_s=config.http.body_timeout_s(),
        max_body_bytes=config.http.max_body_bytes(),
        max_header_bytes=config.http.max_header_bytes(),
    )
    server = WaitressServer(
        create_app(container, extra),
        host=config.http.host(),
        port=config.http.port(),
        threads=config.http.threads(),
        limits=limits,
    )
    services: list[tuple[Service, float]] = []
    if config.relay.embedded():
        container.relaying.observe_backlog()
        relay = BackgroundLoop("outbox relay", container.relaying.loop().run)
        services.append((relay, config.relay.shutdown_timeout_s()))
    services.append((server, config.http.shutdown_timeout_s()))
    return server, services


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = log.info) -> int:
    container = build_container(settings, telemetry)
    try:
        server, services = api_services(container)
        clean = run_until_signalled(services, on_started=lambda: announce(f"cruncan api listening on {server.url}"))
    finally:
        container.shutdown_resources()
        container.unwire()
    return 0 if clean else 1
