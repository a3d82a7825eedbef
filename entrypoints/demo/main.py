"""`cruncan demo`: the API, the relay and the worker in one process, every port in memory, and the
token API and third party stood in for over HTTP, so a request goes the whole way."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from dependency_injector import providers

from entrypoints.api.main import api_services
from entrypoints.api.main import build_container as build_api_container
from entrypoints.api.server import WaitressServer
from entrypoints.demo.container import StandInContainer
from entrypoints.lifecycle import Service, run_until_signalled
from entrypoints.worker.main import build_container as build_worker_container
from entrypoints.worker.main import consumer
from ports.clock import Clock

log = logging.getLogger(__name__)

IN_MEMORY = {"storage": {"backend": "memory"}, "messaging": {"backend": "memory"}, "relay": {"embedded": True}}
STAND_IN_HOST = "127.0.0.1"
STAND_IN_THREADS = 4


def instructions(url: str, stand_in_url: str) -> str:
    return "\n".join(
        [
            f"cruncan demo listening on {url} (everything in memory; Ctrl-C to stop)",
            f"the worker forwards to the stand-in token API and third party on {stand_in_url}, which log what they get",
            "try:",
            f"  curl -si -X POST {url}/one -H 'Content-Type: application/json' \\",
            """    -d '{"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'""",
            f"  curl -s {url}/one/<request_id from the answer above>   # status: forwarded, a moment later",
        ]
    )


def stand_in_server(settings: providers.Configuration, clock: Clock) -> WaitressServer:
    """The stand-ins, listening on `demo.stand_in_port`; the token and third-party URLs are set to it."""
    stand_in = StandInContainer(config=settings, clock=clock)
    server = WaitressServer(
        stand_in.app(), host=STAND_IN_HOST, port=settings.demo.stand_in_port(), threads=STAND_IN_THREADS
    )
    server.name = "stand-in third party"
    settings.from_dict({"token": {"url": server.url}, "third_party": {"url": server.url}})
    return server


def run(settings: providers.Configuration, telemetry: object, announce: Callable[[str], None] = print) -> int:
    settings.from_dict(IN_MEMORY)
    if not settings.token.client_secret():
        settings.from_dict({"token": {"client_secret": secrets.token_urlsafe(16)}})
    api = build_api_container(settings, telemetry)
    stand_in = stand_in_server(settings, api.core.clock())
    worker = build_worker_container(settings, telemetry)
    worker.core.clock.override(api.core.clock)
    worker.storage.memory_store.override(api.storage.memory_store)
    worker.messaging.memory_broker.override(api.messaging.memory_broker)
    worker.observability.metrics.override(api.observability.metrics)
    try:
        server, services = api_services(api)
        forwarding, forwarding_timeout_s = consumer(worker)
        everything: list[tuple[Service, float]] = [(stand_in, 5.0), (forwarding, forwarding_timeout_s), *services]
        clean = run_until_signalled(
            everything,
            on_started=lambda: announce(instructions(server.url, stand_in.url)),
            still_running=lambda: forwarding.running,
        )
    finally:
        worker.shutdown_resources()
        api.shutdown_resources()
        api.unwire()
    return 0 if clean else 1
