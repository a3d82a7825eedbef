"""`cruncan migrate` through its container, in process, on a temporary database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.postgres.schema import known_migrations
from adapters.telemetry.providers import Telemetry
from entrypoints.migrate.container import build_container
from entrypoints.migrate.main import run
from entrypoints.settings import load_settings
from harness.postgres import tables

pytestmark = pytest.mark.postgres


def test_migrate_applies_every_migration_once_then_finds_the_schema_up_to_date(
    empty_database: Callable[[], str],
) -> None:
    dsn = empty_database()
    settings = load_settings(environ={}, overrides=["storage.backend=postgres", f"storage.postgres.dsn={dsn}"])
    said: list[str] = []

    first = run(settings, Telemetry.disabled("cruncan-migrate"), announce=said.append)
    second = run(settings, Telemetry.disabled("cruncan-migrate"), announce=said.append)

    assert (first, second) == (0, 0)
    assert said == [
        f"applied {len(known_migrations())} migration(s): {', '.join(known_migrations())}",
        "the schema is up to date",
    ]
    assert {"request", "outbox"} <= tables(dsn)


def test_the_container_migrates_the_database_its_settings_name(empty_database: Callable[[], str]) -> None:
    chosen, other = empty_database(), empty_database()
    settings = load_settings(environ={}, overrides=[f"storage.postgres.dsn={chosen}"])

    applied = build_container(settings, Telemetry.disabled("cruncan-migrate")).storage.migrate()

    assert applied == list(known_migrations())
    assert {"request", "outbox"} <= tables(chosen)
    assert not {"request", "outbox"} & tables(other)
