"""`cruncan api`: serve the API; run the outbox relay beside it unless `relay.embedded` is off; with
`http.processes` above 1, supervise that many processes serving one socket."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence

from dependency_injector import providers
from flask import Blueprint

from adapters.telemetry.providers import Telemetry
from domain.model.snowflake import WHOLE_NODE, SequenceShare
from entrypoints.api.app import create_app
from entrypoints.api.container import ApiContainer, build_container
from entrypoints.api.processes import Handoff, supervise
from entrypoints.api.server import WaitressServer
from entrypoints.api.waitress_shim import HttpLimits
from entrypoints.lifecycle import Service, run_until_signalled
from entrypoints.settings import SettingsError
from runtime.background import BackgroundLoop

log = logging.getLogger(__name__)


def api_services(
    container: ApiContainer, extra: Sequence[Blueprint] = (), listener: socket.socket | None = None
) -> tuple[WaitressServer, list[tuple[Service, float]]]:
    """The API's services in start order: the relay first, the HTTP server last (so it drains first);
    the app serves `extra` blueprints too, on `listener` if given, else on `http.host:http.port`.

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
        listener=listener,
    )
    services: list[tuple[Service, float]] = []
    if config.relay.embedded():
        container.relaying.observe_backlog()
        relay = BackgroundLoop("outbox relay", container.relaying.loop().run)
        services.append((relay, config.relay.shutdown_timeout_s()))
    services.append((server, config.http.shutdown_timeout_s()))
    return server, services


def run(
    settings: providers.Configuration,
    telemetry: Telemetry,
    announce: Callable[[str], None] = log.info,
    log_level: str = "INFO",
) -> int:
    processes = settings.http.processes()
    if processes == 1:
        return serve(settings, telemetry, lambda url: announce(f"cruncan api listening on {url}"))
    if settings.storage.backend() == "memory":
        raise SettingsError(
            f"setting http.processes is {processes}, but storage.backend memory keeps requests inside one"
            " process: use postgres, or one process"
        )
    return supervise(settings, log_level, announce)


def run_handed_off(
    settings: providers.Configuration,
    telemetry: Telemetry,
    handoff: Handoff,
    announce: Callable[[str], None] = log.info,
) -> int:
    """One of the processes `supervise` started: serves the socket it was handed, tells it when it does,
    and stops on SIGTERM, or once the supervisor is gone."""

    def started(_url: str) -> None:
        announce(f"cruncan api http process {handoff.slot} (pid {os.getpid()}) serving")
        handoff.report_ready()

    return serve(
        settings,
        telemetry,
        started,
        id_share=handoff.share,
        listener=handoff.listener(),
        still_running=handoff.supervisor_alive,
    )


def serve(
    settings: providers.Configuration,
    telemetry: Telemetry,
    on_started: Callable[[str], None],
    *,
    id_share: SequenceShare = WHOLE_NODE,
    listener: socket.socket | None = None,
    still_running: Callable[[], bool] = lambda: True,
) -> int:
    container = build_container(settings, telemetry, id_share)
    try:
        server, services = api_services(container, listener=listener)
        clean = run_until_signalled(services, on_started=lambda: on_started(server.url), still_running=still_running)
    finally:
        container.shutdown_resources()
        container.unwire()
    return 0 if clean else 1
