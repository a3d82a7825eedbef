"""`cruncan migrate`: apply the migrations this release knows, once; safe to run from several processes."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from entrypoints.migrate.container import build_container


def run(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = print) -> int:
    container = build_container(settings, telemetry)
    try:
        applied = container.storage.migrate()
    finally:
        container.shutdown_resources()
    announce(f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "the schema is up to date")
    return 0
