"""The driver's failures, spoken as the domain's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.errors

from domain.model.errors import CruncanError, DuplicateRequest, StoreUnavailable


@contextmanager
def translated_errors() -> Iterator[None]:
    """A database that cannot answer raises `StoreUnavailable` (retry later); a write the
    schema refuses raises `CruncanError`. Driver details stay on `__cause__` for the logs."""
    try:
        yield
    except psycopg2.errors.UniqueViolation as exc:
        raise DuplicateRequest(f"duplicate: {_detail(exc)}") from exc
    except psycopg2.IntegrityError as exc:
        raise CruncanError(f"refused by the schema: {_detail(exc)}") from exc
    except psycopg2.errors.UndefinedTable as exc:
        raise StoreUnavailable("postgres schema is missing tables: run `cruncan migrate`") from exc
    except psycopg2.extensions.QueryCanceledError as exc:
        raise StoreUnavailable("postgres statement timed out") from exc
    except psycopg2.extensions.TransactionRollbackError as exc:
        raise StoreUnavailable("postgres aborted the transaction (deadlock or serialization failure)") from exc
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        raise StoreUnavailable("postgres connection failed") from exc


def _detail(exc: psycopg2.Error) -> str:
    return exc.diag.message_detail or exc.diag.message_primary or type(exc).__name__
