"""deploy/sql/roles.sql on the real Postgres: the migrations run as the schema's owner, the application's
unit of work runs as a role that reads and writes the tables, and that role can create, alter or drop nothing."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from adapters.postgres.database import close_database, connect_database
from adapters.postgres.probe import PostgresProbe
from adapters.postgres.schema import SchemaChangeRefused, known_migrations, migrate, rollback_last
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.system import SystemClock
from domain.model.errors import CruncanError
from domain.model.request import RequestStatus
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from harness.postgres import admin_connection, query, tables, temporary_database

pytestmark = pytest.mark.postgres

ROLES_SQL = Path(__file__).resolve().parents[2] / "deploy" / "sql" / "roles.sql"
BODY = {"user_id": "user-1", "prompt": "least privilege", "data": [{"key": "k", "value": "v"}]}


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str
    owner_dsn: str
    app_dsn: str
    admin_dsn: str


def run_roles_script(dsn: str, owner: str, app: str) -> None:
    result = subprocess.run(
        [
            "psql",
            dsn,
            "--no-psqlrc",
            "--quiet",
            "-v",
            f"owner_role={owner}",
            "-v",
            f"app_role={app}",
            "-v",
            "app_password=app-s3cret",
            "-f",
            str(ROLES_SQL),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"roles.sql failed:\n{result.stderr}"


@pytest.fixture
def roles(postgres_server: str) -> Iterator[Roles]:
    """The roles, under names of their own (roles are shared by every database on the server), in a fresh
    database; both go afterwards."""
    suffix = uuid.uuid4().hex[:10]
    owner, app = f"cruncan_owner_{suffix}", f"cruncan_app_{suffix}"
    try:
        with temporary_database("roles") as admin_dsn:
            run_roles_script(admin_dsn, owner, app)
            yield Roles(owner, app, make_dsn(admin_dsn, user=owner), make_dsn(admin_dsn, user=app), admin_dsn)
    finally:
        with closing(admin_connection()) as admin:
            for role in (app, owner):
                admin.cursor().execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def as_role(dsn: str, statement: str) -> None:
    with closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cursor:
        cursor.execute(statement)
        connection.commit()


def test_the_migrations_run_as_the_owner_and_everything_they_create_is_its(roles: Roles):
    assert migrate(roles.owner_dsn) == list(known_migrations())

    owners = query(roles.admin_dsn, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [(roles.owner,)]


def test_the_application_reads_and_writes_through_its_unit_of_work(roles: Roles):
    migrate(roles.owner_dsn)
    database = connect_database(roles.app_dsn, 2, 3, 300, 5000)
    try:
        uow = lambda: PeeweeUnitOfWork(database)  # noqa: E731
        clock = SystemClock()
        ingest = IngestRequest(uow, SnowflakeIdGenerator(clock, node=7), clock, idempotency_window=timedelta(0))
        request_id = ingest(BODY, idempotency_key="key-1")
        with uow() as unit:
            pending = unit.outbox.claim_pending(10)
            unit.outbox.mark_sent([message.outbox_id for message in pending], clock.now())
            moved = unit.requests.record_status([request_id], RequestStatus.PUBLISHED, clock.now())
            purged = unit.idempotency_keys.purge_expired(clock.now() + timedelta(seconds=1))
            unit.commit()
        with uow() as unit:
            stored = unit.requests.get(request_id)
        PostgresProbe(database).check()
    finally:
        close_database(database)

    assert [message.message.key for message in pending] == [request_id]
    assert (moved, purged) == (1, 1)
    assert stored is not None
    assert stored.status is RequestStatus.PUBLISHED


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE request",
        "ALTER TABLE request ADD COLUMN intruder text",
        "TRUNCATE outbox",
        "CREATE INDEX intruder ON request (user_id)",
        "DROP TRIGGER outbox_notify ON outbox",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA intruder",
    ],
)
def test_the_application_role_can_change_no_part_of_the_schema(roles: Roles, statement: str):
    migrate(roles.owner_dsn)

    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        as_role(roles.app_dsn, statement)


def test_the_application_role_can_neither_migrate_nor_roll_back(roles: Roles):
    with pytest.raises(CruncanError):
        migrate(roles.app_dsn)
    assert tables(roles.admin_dsn) == set(), "the application role created tables"
    migrate(roles.owner_dsn)
    with pytest.raises(SchemaChangeRefused, match="run migrations as the schema's owner"):
        rollback_last(roles.app_dsn)
    assert query(roles.admin_dsn, "SELECT count(*) FROM _yoyo_migration") == [(len(known_migrations()),)]


def test_a_table_a_later_migration_adds_is_the_applications_to_use_at_once(roles: Roles):
    migrate(roles.owner_dsn)
    as_role(roles.owner_dsn, "CREATE TABLE later (id bigserial PRIMARY KEY, note text)")

    as_role(roles.app_dsn, "INSERT INTO later (note) VALUES ('covered by default privileges')")

    assert query(roles.admin_dsn, "SELECT note FROM later") == [("covered by default privileges",)]


def test_the_script_can_run_again_on_a_migrated_database(roles: Roles):
    migrate(roles.owner_dsn)

    run_roles_script(roles.admin_dsn, roles.owner, roles.app)

    as_role(roles.app_dsn, "DELETE FROM outbox")
