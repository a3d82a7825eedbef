"""`migrate status` and `migrate rollback` on the real Postgres: each migration's `.rollback.sql` undoes it
exactly, the last one first, and a database with nothing applied is refused with a clear message."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.postgres.schema import (
    MIGRATIONS,
    NoRollback,
    NothingToRollBack,
    SchemaTooNew,
    known_migrations,
    migrate,
    rollback_last,
    schema_status,
)
from harness.postgres import query, tables
from tests.integration.test_migrations import record_foreign_migration

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
YOYO_TABLES = {"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"}


def schema_objects(dsn: str) -> set[tuple[str, str]]:
    """Every table, index, sequence, function and trigger of the public schema, yoyo's bookkeeping aside."""
    rows = query(
        dsn,
        """
        SELECT 'relation', c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'S')
        UNION ALL
        SELECT 'function', p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
        UNION ALL
        SELECT 'trigger', t.tgname FROM pg_trigger t WHERE NOT t.tgisinternal
        """,
    )
    return {(kind, name) for kind, name in rows if not name.startswith(("_yoyo", "yoyo"))}


def test_every_migration_has_a_rollback_beside_it():
    for migration in known_migrations():
        assert (MIGRATIONS / f"{migration}.rollback.sql").is_file(), f"{migration} has no {migration}.rollback.sql"


def test_rolling_back_the_last_first_until_none_is_left_leaves_the_empty_schema(empty_database: Callable[[], str]):
    dsn = empty_database()
    empty = schema_objects(dsn)
    migrate(dsn)
    stages = [schema_objects(dsn)]
    for expected in reversed(known_migrations()):
        assert rollback_last(dsn) == expected
        stages.append(schema_objects(dsn))
        assert schema_status(dsn).pending[0] == expected
    assert stages[-1] == empty, "rolling everything back leaves objects behind"
    assert tables(dsn) <= YOYO_TABLES

    assert migrate(dsn) == list(known_migrations()), "a rolled-back database migrates again"
    assert schema_objects(dsn) == stages[0]


def test_rollback_undoes_only_the_last_migration(empty_database: Callable[[], str]):
    dsn = empty_database()
    *earlier, last = known_migrations()
    migrate(dsn)
    with_all = schema_objects(dsn)

    assert rollback_last(dsn) == last

    status = schema_status(dsn)
    assert status.applied == tuple(earlier)
    assert status.pending == (last,)
    assert migrate(dsn) == [last]
    assert schema_objects(dsn) == with_all


def test_rolling_back_and_migrating_again_restores_the_columns(empty_database: Callable[[], str]):
    dsn = empty_database()
    migrate(dsn)
    columns_before = query(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'request'")

    rollback_last(dsn)
    migrate(dsn)

    assert query(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'request'") == (
        columns_before
    )


def test_rollback_refuses_a_migration_that_ships_no_rollback(empty_database: Callable[[], str], tmp_path, monkeypatch):
    dsn = empty_database()
    migrate(dsn)
    last = known_migrations()[-1]
    copies = tmp_path / "migrations"
    copies.mkdir()
    for path in MIGRATIONS.iterdir():
        if path.name != f"{last}.rollback.sql":
            (copies / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr("adapters.postgres.schema.MIGRATIONS", copies)

    with pytest.raises(NoRollback, match=f"migration {last} has no {last}.rollback.sql"):
        rollback_last(dsn)
    assert schema_status(dsn).applied == known_migrations()


def test_rollback_refuses_a_database_with_nothing_applied(empty_database: Callable[[], str]):
    with pytest.raises(NothingToRollBack, match="no migration is applied to this database: there is nothing to roll"):
        rollback_last(empty_database())


def test_rollback_refuses_a_schema_newer_than_the_code(empty_database: Callable[[], str]):
    dsn = empty_database()
    migrate(dsn)
    record_foreign_migration(dsn, "0099.from_the_future")

    with pytest.raises(SchemaTooNew, match=r"0099\.from_the_future"):
        rollback_last(dsn)
    assert schema_status(dsn).applied[: len(known_migrations())] == known_migrations()


def cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "entrypoints.cli",
            "migrate",
            *args,
            "--set",
            "storage.backend=postgres",
            "--set",
            f"storage.postgres.dsn={dsn}",
            "--log-level",
            "ERROR",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_shows_status_rolls_back_and_refuses_with_a_clear_message(empty_database: Callable[[], str]):
    dsn = empty_database()
    assert cli("status", dsn=dsn).stdout.splitlines() == [
        *(f"pending  {migration}" for migration in known_migrations()),
        f"{len(known_migrations())} migration(s) pending",
    ]
    assert cli(dsn=dsn).returncode == 0

    status = cli("status", dsn=dsn)
    assert status.stdout.splitlines() == [
        *(f"applied  {migration}" for migration in known_migrations()),
        "the schema is up to date",
    ]

    rolled = cli("rollback", dsn=dsn)
    assert (rolled.returncode, rolled.stdout.strip()) == (0, f"rolled back {known_migrations()[-1]}")
    for _ in known_migrations()[:-1]:
        assert cli("rollback", dsn=dsn).returncode == 0

    refused = cli("rollback", dsn=dsn)
    assert refused.returncode == 1
    assert "cruncan migrate: no migration is applied to this database: there is nothing to roll back" in refused.stderr


def test_the_cli_rejects_an_unknown_action():
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate", "downgrade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "invalid choice: 'downgrade'" in result.stderr
