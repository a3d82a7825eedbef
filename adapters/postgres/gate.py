from __future__ import annotations

from contextlib import closing

import psycopg2

from adapters.postgres.errors import translated_errors
from domain.model.request import StoredRequest


class AdvisoryLockGate:
    """Waits, on a connection of its own, until Postgres advisory lock `key` is free: a test holds the
    key to stop a job at a known point (it sees the wait in `pg_locks`), and frees it to let the job on."""

    def __init__(self, dsn: str, key: int) -> None:
        self._dsn = dsn
        self._key = key

    def __call__(self, _claimed: list[StoredRequest]) -> None:
        with translated_errors(), closing(psycopg2.connect(self._dsn, application_name="cruncan-gate")) as connection:
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute("SELECT pg_advisory_lock(%s)", (self._key,))
            cursor.execute("SELECT pg_advisory_unlock(%s)", (self._key,))


def no_gate(_claimed: list[StoredRequest]) -> None:
    """Lets the job on at once."""
