"""The schema's versions: the SQL files in `migrations/`, applied in order by yoyo-migrations; each
`<id>.rollback.sql` beside its migration undoes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2.extensions import parse_dsn
from yoyo import get_backend, read_migrations
from yoyo.backends.base import DatabaseBackend
from yoyo.connections import DatabaseURI
from yoyo.migrations import MigrationList

from adapters.postgres.errors import translated_errors
from domain.model.errors import CruncanError

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_TABLE = "_yoyo_migration"
CONNECT_TIMEOUT_S = 10
# pg_advisory_lock key shared by every `cruncan migrate`; the server frees it if the holder dies.
MIGRATION_LOCK = 0x63_72_75_6E_63_61_6E


class SchemaTooNew(CruncanError):
    """The database has migrations this code does not know: a newer release applied them."""

    def __init__(self, unknown: list[str]) -> None:
        super().__init__(
            f"the database has migrations this code does not know: {', '.join(unknown)}; run a release that knows them"
        )
        self.unknown = unknown


class SchemaChangeRefused(CruncanError):
    """The role connected may not change the schema: migrations run as the schema's owner."""

    def __init__(self) -> None:
        super().__init__(
            "this role may not change the schema: run migrations as the schema's owner (see deploy/sql/roles.sql)"
        )


class NoRollback(CruncanError):
    """The last applied migration ships no `.rollback.sql`, so it cannot be undone here."""

    def __init__(self, migration: str) -> None:
        super().__init__(f"migration {migration} has no {migration}.rollback.sql: it cannot be rolled back")


class NothingToRollBack(CruncanError):
    """No migration is applied, so there is none to roll back."""

    def __init__(self) -> None:
        super().__init__("no migration is applied to this database: there is nothing to roll back")


@dataclass(frozen=True)
class SchemaStatus:
    applied: tuple[str, ...]
    pending: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def current(self) -> bool:
        return not self.pending and not self.unknown


@cache
def known_migrations() -> tuple[str, ...]:
    return tuple(migration.id for migration in read_migrations(str(MIGRATIONS)))


def migrate(dsn: str) -> list[str]:
    """Applies the migrations the database lacks and returns their IDs, in order.

    Idempotent, and safe to run from several processes at once: they take turns on an
    advisory lock, and the later ones find nothing left to do. Refuses (`SchemaTooNew`) a
    database that has migrations this code does not know, before changing anything.
    """
    migrations = read_migrations(str(MIGRATIONS))
    with _owner_only(), translated_errors(), _backend(dsn) as backend, _exclusive(backend):
        backend.get_applied_migration_hashes()
        unknown = sorted(set(applied_migrations(backend.cursor())) - {migration.id for migration in migrations})
        if unknown:
            raise SchemaTooNew(unknown)
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
        return [migration.id for migration in pending]


def rollback_last(dsn: str) -> str:
    """Rolls back the most recently applied migration with its `.rollback.sql` and returns its ID.

    Takes the same advisory lock as `migrate`. Refuses (`NothingToRollBack`) a database with no
    migration applied, (`SchemaTooNew`) one whose newest migrations this code does not know, and
    (`NoRollback`) a last migration without a rollback file.
    """
    migrations = read_migrations(str(MIGRATIONS))
    with _owner_only(), translated_errors(), _backend(dsn) as backend, _exclusive(backend):
        backend.get_applied_migration_hashes()
        applied = applied_migrations(backend.cursor())
        unknown = sorted(set(applied) - {migration.id for migration in migrations})
        if unknown:
            raise SchemaTooNew(unknown)
        if not applied:
            raise NothingToRollBack()
        last = next(migration for migration in migrations if migration.id == applied[-1])
        if not (MIGRATIONS / f"{last.id}.rollback.sql").is_file():
            raise NoRollback(last.id)
        backend.rollback_migrations(MigrationList([last]))
        return str(last.id)


def schema_status(dsn: str) -> SchemaStatus:
    """Compares the database's migrations with this code's, without changing anything."""
    with translated_errors(), closing(psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S)) as connection:
        connection.autocommit = True
        applied = applied_migrations(connection.cursor())
    known = known_migrations()
    return SchemaStatus(
        applied=tuple(applied),
        pending=tuple(migration for migration in known if migration not in applied),
        unknown=tuple(migration for migration in applied if migration not in known),
    )


def applied_migrations(cursor: psycopg2.extensions.cursor) -> list[str]:
    """The IDs of the migrations applied to the database, oldest first; the cursor must be autocommit."""
    try:
        cursor.execute(f"SELECT migration_id FROM {MIGRATION_TABLE} ORDER BY applied_at_utc, migration_id")  # noqa: S608
    except psycopg2.errors.UndefinedTable:
        return []
    return [migration_id for (migration_id,) in cursor.fetchall()]


def _backend(dsn: str) -> DatabaseBackend:
    """A yoyo backend for any libpq DSN, URI or key=value: every parameter travels as a query argument."""
    parameters = parse_dsn(dsn)
    parameters.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    database = "/" + parameters.pop("dbname", "")
    uri = DatabaseURI("postgresql", None, None, None, None, database, parameters)
    return get_backend(str(uri), migration_table=MIGRATION_TABLE)


@contextmanager
def _owner_only() -> Iterator[None]:
    try:
        yield
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise SchemaChangeRefused() from exc


@contextmanager
def _exclusive(backend: DatabaseBackend) -> Iterator[None]:
    backend.execute("SELECT pg_advisory_lock(:key)", {"key": MIGRATION_LOCK})
    try:
        yield
    finally:
        backend.execute("SELECT pg_advisory_unlock(:key)", {"key": MIGRATION_LOCK})
