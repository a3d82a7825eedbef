from __future__ import annotations

from adapters.postgres.database import PooledPostgres
from adapters.postgres.errors import translated_errors
from adapters.postgres.schema import applied_migrations, known_migrations
from domain.model.errors import StoreUnavailable
from ports.health import Probe


class PostgresProbe(Probe):
    """Ready when Postgres answers on a pooled connection and has every migration this code
    needs; a newer schema is fine (a rolling upgrade applies it before the old replicas stop)."""

    name = "postgres"

    def __init__(self, database: PooledPostgres) -> None:
        self._database = database

    def check(self) -> None:
        connection = self._database.lend()
        try:
            with translated_errors():
                applied = applied_migrations(connection.cursor())
        finally:
            self._database.give_back(connection)
        missing = [migration for migration in known_migrations() if migration not in applied]
        if missing:
            raise StoreUnavailable(f"postgres lacks migrations {', '.join(missing)}: run `cruncan migrate`")
