from __future__ import annotations

import logging
from collections.abc import Callable

from dependency_injector import providers

from entrypoints.api.main import api_services, build_container
from entrypoints.lifecycle import run_until_signalled

log = logging.getLogger(__name__)

IN_MEMORY = {"storage": {"backend": "memory"}, "messaging": {"backend": "memory"}, "relay": {"embedded": True}}


def instructions(url: str) -> str:
    return "\n".join(
        [
            f"cruncan demo listening on {url} (everything in memory; Ctrl-C to stop)",
            "try:",
            f"  curl -si -X POST {url}/one -H 'Content-Type: application/json' \\",
            """    -d '{"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}'""",
            f"  curl -s {url}/one/<request_id from the answer above>",
        ]
    )


def run(settings: providers.Configuration, telemetry: object, announce: Callable[[str], None] = print) -> int:
    settings.from_dict(IN_MEMORY)
    container = build_container(settings, telemetry)

    try:
        server, services = api_services(container)
        clean = run_until_signalled(services, on_started=lambda: announce(instructions(server.url)))
    finally:
        container.shutdown_resources()
        container.unwire()
    return 0 if clean else 1
