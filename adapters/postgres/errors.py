"""The driver's failures, spoken as the domain's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.errors

from adapters.postgres.tables import IDEMPOTENCY_KEY_TABLE
from domain.model.errors import CruncanError, DuplicateRequest, IdempotencyKeyInUse, StoreUnavailable


@contextmanager
def translated_errors() -> Iterator[None]:
    """A database that cannot answer raises `StoreUnavailable` (retry later); a write the
    schema refuses raises `CruncanError`. Driver details stay on `__cause__` for the logs."""
    try:
        yield
    except psycopg2.errors.UniqueViolation as exc:
        if exc.diag.table_name == IDEMPOTENCY_KEY_TABLE:
            raise IdempotencyKeyInUse("another request already stored this idempotency key") from exc
        raise DuplicateRequest(f"duplicate: {_detail(exc)}") from exc
    except psycopg2.IntegrityError as exc:
        raise CruncanError(f"refused by the schema: {_refusal(exc)}") from exc
    except psycopg2.errors.UndefinedTable as exc:
        raise StoreUnavailable("postgres schema is missing tables: run `cruncan migrate`") from exc
    except psycopg2.extensions.QueryCanceledError as exc:
        raise StoreUnavailable("postgres statement timed out") from exc
    except psycopg2.extensions.TransactionRollbackError as exc:
        raise StoreUnavailable("postgres aborted the transaction (deadlock or serialization failure)") from exc
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        raise StoreUnavailable("postgres connection failed") from exc


def _detail(exc: psycopg2.Error) -> str:
    """For a unique violation the detail names only the key, e.g. `Key (req_id)=(...) already exists`."""
    return exc.diag.message_detail or exc.diag.message_primary or type(exc).__name__


def _refusal(exc: psycopg2.Error) -> str:
    """The rule that was broken, never the detail: Postgres quotes the whole failing row there, body included."""
    rule = exc.diag.constraint_name or exc.diag.column_name or type(exc).__name__
    return f"{exc.diag.message_primary or type(exc).__name__} ({rule})"
