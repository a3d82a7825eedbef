"""Real servers for benchmarks: a fresh, migrated Postgres database and a Tansu broker."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.postgres.schema import migrate
from harness.postgres import temporary_database
from harness.tansu import start_tansu


@contextmanager
def real_stack() -> Iterator[dict[str, str]]:
    """Yields the environment that points `cruncan` at a fresh database and a running broker."""
    with temporary_database("bench") as dsn, tempfile.TemporaryDirectory() as scratch:
        migrate(dsn)
        broker = start_tansu(Path(scratch) / "broker.log")
        try:
            yield {
                "CRUNCAN_STORAGE__BACKEND": "postgres",
                "CRUNCAN_STORAGE__POSTGRES__DSN": dsn,
                "CRUNCAN_MESSAGING__BACKEND": "kafka",
                "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            }
        finally:
            broker.stop()
