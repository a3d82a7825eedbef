"""`migrate` brings any database to this code's schema, once, whoever runs it at the same time,
and refuses a schema newer than the code."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import psycopg2.errors
import pytest
from peewee import Model

from adapters.postgres.database import close_database, connect_database
from adapters.postgres.probe import PostgresProbe
from adapters.postgres.schema import SchemaTooNew, known_migrations, migrate, schema_status
from adapters.postgres.tables import OutboxRow, RequestRow
from domain.model.errors import StoreUnavailable
from domain.model.request import RequestStatus
from harness.postgres import admin_connection, tables

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
MIGRATE_ON_GO = """
import json, sys
from adapters.postgres.schema import migrate
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(migrate(sys.argv[1])), flush=True)
"""


def record_foreign_migration(dsn: str, migration_id: str) -> None:
    with closing(admin_connection(dsn)) as connection:
        connection.cursor().execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            "VALUES (md5(%s), %s, now() AT TIME ZONE 'UTC')",
            (migration_id, migration_id),
        )


def test_the_migrations_are_the_sql_files_in_order() -> None:
    assert known_migrations() == (
        "0001.request",
        "0002.outbox",
        "0003.idempotency_key",
        "0004.submitted_by",
        "0005.redrive_and_cleanup",
    )


def test_migrate_applies_what_is_missing_once(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    assert schema_status(dsn).pending == known_migrations()

    assert migrate(dsn) == list(known_migrations())
    assert migrate(dsn) == []

    status = schema_status(dsn)
    assert status.current
    assert status.applied == known_migrations()
    assert {"request", "outbox"} <= tables(dsn)


@pytest.fixture(params=["fresh", "bookkept"])
def unmigrated(request: pytest.FixtureRequest, empty_database: Callable[[], str]) -> str:
    """An empty database, or one where yoyo's bookkeeping tables exist but no migration is
    applied: there nothing slows the first migrator down, so the others race it."""
    dsn = empty_database()
    if request.param == "bookkept":
        migrate(dsn)
        with closing(admin_connection(dsn)) as connection:
            connection.cursor().execute(
                "DROP TABLE dead_letter_redrive, idempotency_key, outbox, request; DROP FUNCTION outbox_notify;"
                " DELETE FROM _yoyo_migration"
            )
    assert schema_status(dsn).pending == known_migrations()
    return dsn


def test_processes_migrating_at_once_apply_each_migration_exactly_once(unmigrated: str) -> None:
    dsn = unmigrated
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_ON_GO, dsn],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * len(processes)
    applied = [migration for output in outputs for migration in json.loads(output)]
    assert sorted(applied) == list(known_migrations())
    assert schema_status(dsn).current


def test_threads_migrating_at_once_apply_each_migration_exactly_once(unmigrated: str) -> None:
    dsn = unmigrated
    start = threading.Barrier(6)

    def migrate_on_go() -> list[str]:
        start.wait(timeout=30)
        return migrate(dsn)

    with ThreadPoolExecutor(6) as threads:
        results = [future.result(timeout=120) for future in [threads.submit(migrate_on_go) for _ in range(6)]]

    assert sorted(migration for result in results for migration in result) == list(known_migrations())
    assert schema_status(dsn).current


def test_a_schema_newer_than_the_code_is_refused_before_anything_changes(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    migrate(dsn)
    record_foreign_migration(dsn, "0003.from-a-newer-release")

    with pytest.raises(SchemaTooNew, match=r"0003\.from-a-newer-release") as refused:
        migrate(dsn)

    assert refused.value.unknown == ["0003.from-a-newer-release"]
    status = schema_status(dsn)
    assert (status.pending, status.unknown, status.current) == ((), ("0003.from-a-newer-release",), False)


def test_a_newer_schema_refuses_to_migrate_even_what_is_missing(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    migrate(dsn)
    with closing(admin_connection(dsn)) as connection:
        connection.cursor().execute("DROP TABLE outbox; DELETE FROM _yoyo_migration WHERE migration_id = '0002.outbox'")
    record_foreign_migration(dsn, "0009.future")

    with pytest.raises(SchemaTooNew):
        migrate(dsn)

    assert "outbox" not in tables(dsn)


def test_the_probe_wants_every_known_migration_and_tolerates_newer_ones(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    database = connect_database(dsn, pool_size=1, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=5000)
    probe = PostgresProbe(database)

    with pytest.raises(StoreUnavailable, match=r"0001\.request, 0002\.outbox"):
        probe.check()
    migrate(dsn)
    probe.check()
    record_foreign_migration(dsn, "0003.from-a-newer-release")
    probe.check()
    close_database(database)


@pytest.mark.parametrize("model", [RequestRow, OutboxRow], ids=lambda model: model._meta.table_name)
def test_the_peewee_models_match_the_migrated_tables(postgres_dsn: str, model: type[Model]) -> None:
    with closing(admin_connection(postgres_dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns WHERE table_name = %s",
            (model._meta.table_name,),
        )
        columns = dict(cursor.fetchall())

    assert columns == {field.column_name: field.null for field in model._meta.sorted_fields}


def test_the_status_column_accepts_exactly_the_lifecycle_statuses(clean_postgres: str) -> None:
    insert = (
        "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status) "
        "VALUES (%s, 'u', now(), now(), '{}', %s)"
    )
    with closing(admin_connection(clean_postgres)) as connection:
        cursor = connection.cursor()
        for status in RequestStatus:
            cursor.execute(insert, (status.value, status.value))
        with pytest.raises(psycopg2.errors.CheckViolation):
            cursor.execute(insert, ("bogus", "bogus"))
