"""The driver's failures, spoken as the domain's errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import peewee
import psycopg2
import psycopg2.errors
from playhouse.pool import MaxConnectionsExceeded

from adapters.postgres.tables import IDEMPOTENCY_KEY_TABLE
from domain.model.errors import CruncanError, DuplicateRequest, IdempotencyKeyInUse, StoreUnavailable


@contextmanager
def translated_errors() -> Iterator[None]:
    """A database that cannot answer raises `StoreUnavailable` (retry later); a write the
    schema refuses raises `CruncanError`. Driver details stay on `__cause__` for the logs.
    Errors peewee wrapped are unwrapped first (peewee keeps the driver's error as `orig`)."""
    try:
        yield
    except MaxConnectionsExceeded as exc:
        raise StoreUnavailable("all pooled postgres connections are busy") from exc
    except psycopg2.Error as exc:
        translated = _translated(exc)
        if translated is None:
            raise
        raise translated from exc
    except (peewee.DatabaseError, peewee.InterfaceError) as exc:
        driver_error = getattr(exc, "orig", None)
        translated = _translated(driver_error) if isinstance(driver_error, psycopg2.Error) else None
        if translated is None:
            raise
        raise translated from driver_error


def _translated(exc: psycopg2.Error) -> CruncanError | None:
    """The domain's error for `exc`, or None for a driver error that is a bug of ours (bad SQL)."""
    for kind, translation in _TRANSLATIONS:
        if isinstance(exc, kind):
            return translation(exc)
    return None


def _duplicate(exc: psycopg2.Error) -> CruncanError:
    if exc.diag.table_name == IDEMPOTENCY_KEY_TABLE:
        return IdempotencyKeyInUse("another request already stored this idempotency key")
    return DuplicateRequest(f"duplicate: {_detail(exc)}")


def _first_line(exc: psycopg2.Error) -> str | None:
    """libpq's reason, such as `connection to server at "127.0.0.1", port 5432 failed: Connection refused`."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else None


def _detail(exc: psycopg2.Error) -> str:
    """For a unique violation the detail names only the key, e.g. `Key (req_id)=(...) already exists`."""
    return exc.diag.message_detail or exc.diag.message_primary or type(exc).__name__


def _refusal(exc: psycopg2.Error) -> str:
    """The rule that was broken, never the detail: Postgres quotes the whole failing row there, body included."""
    rule = exc.diag.constraint_name or exc.diag.column_name or type(exc).__name__
    return f"{exc.diag.message_primary or type(exc).__name__} ({rule})"


_TRANSLATIONS: tuple[
    tuple[type[psycopg2.Error] | tuple[type[psycopg2.Error], ...], Callable[[psycopg2.Error], CruncanError]], ...
] = (
    (psycopg2.errors.UniqueViolation, _duplicate),
    (psycopg2.IntegrityError, lambda exc: CruncanError(f"refused by the schema: {_refusal(exc)}")),
    (
        psycopg2.errors.UndefinedTable,
        lambda _: StoreUnavailable("postgres schema is missing tables: run `cruncan migrate`"),
    ),
    (psycopg2.extensions.QueryCanceledError, lambda _: StoreUnavailable("postgres statement timed out")),
    (
        psycopg2.extensions.TransactionRollbackError,
        lambda _: StoreUnavailable("postgres aborted the transaction (deadlock or serialization failure)"),
    ),
    (
        (psycopg2.OperationalError, psycopg2.InterfaceError),
        lambda exc: StoreUnavailable("postgres connection failed", _first_line(exc)),
    ),
)
