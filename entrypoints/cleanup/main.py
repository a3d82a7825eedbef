"""`cruncan cleanup`: delete sent outbox messages, old finished requests and expired idempotency keys."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dependency_injector import providers

from adapters.telemetry.providers import Telemetry
from domain.model.retention import Removed, Retention
from entrypoints.cleanup.container import build_container
from entrypoints.durations import parse_retention
from entrypoints.settings import SettingsError, setting


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")


def retention(settings: providers.Configuration) -> Retention:
    """The retention the `cleanup.*_retention` settings give; a malformed one names its key."""
    kept = {}
    for key in ("cleanup.outbox_retention", "cleanup.request_retention"):
        try:
            kept[key] = parse_retention(str(setting(settings, key)))
        except ValueError as exc:
            raise SettingsError(f"setting {key}: {exc}") from None
    return Retention(outbox=kept["cleanup.outbox_retention"], requests=kept["cleanup.request_retention"])


def described(removed: Removed) -> str:
    return (
        f"{removed.outbox_messages} sent outbox message(s), {removed.requests} request(s), "
        f"{removed.idempotency_keys} expired idempotency key(s)"
    )


def run(
    settings: providers.Configuration,
    telemetry: Telemetry,
    dry_run: bool = False,
    announce: Callable[[str], None] = print,
) -> int:
    kept = retention(settings)
    container = build_container(settings, telemetry)
    try:
        cleanup = container.cleanup()
        if dry_run:
            announce(f"dry run: would delete {described(cleanup.preview(kept))}")
            return 0
        removed = cleanup(kept, progress=lambda batch: announce(f"deleted {described(batch)}"))
    finally:
        container.shutdown_resources()
    announce(f"deleted {described(removed)} in all")
    return 0
