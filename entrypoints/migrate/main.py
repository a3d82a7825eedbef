"""`cruncan migrate`: apply the migrations this release knows, once; safe to run from several processes.
`cruncan migrate status` lists applied and pending ones; `cruncan migrate rollback` undoes the last."""

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


def status(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = print) -> int:
    """Prints each migration as applied, pending or unknown (applied by a newer release); changes nothing."""
    container = build_container(settings, telemetry)
    try:
        schema = container.storage.schema_status()
    finally:
        container.shutdown_resources()
    for migration in schema.applied:
        announce(f"applied  {migration}" + ("  (unknown to this release)" if migration in schema.unknown else ""))
    for migration in schema.pending:
        announce(f"pending  {migration}")
    announce("the schema is up to date" if schema.current else f"{len(schema.pending)} migration(s) pending")
    return 0


def rollback(settings: providers.Configuration, telemetry: Telemetry, announce: Callable[[str], None] = print) -> int:
    """Rolls back the most recently applied migration; refuses when none is applied."""
    container = build_container(settings, telemetry)
    try:
        undone = container.storage.rollback_last()
    finally:
        container.shutdown_resources()
    announce(f"rolled back {undone}")
    return 0


ACTIONS = {"apply": run, "status": status, "rollback": rollback}
