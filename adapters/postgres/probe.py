from __future__ import annotations

from playhouse.pool import PooledPostgresqlDatabase

from adapters.postgres.errors import translated_errors
from adapters.postgres.pool import on_borrowed
from adapters.postgres.schema import applied_migrations, known_migrations
from domain.model.errors import StoreUnavailable
from ports.health import Probe


class PostgresProbe(Probe):
    """Ready when Postgres answers on a pooled connection and has every migration this code
    needs; a newer schema is fine (a rolling upgrade applies it before the old replicas stop)."""

    name = "postgres"

    def __init__(self, database: PooledPostgresqlDatabase) -> None:
        self._database = database

    def check(self) -> None:
        with translated_errors():
            opened = self._database.connect(reuse_if_open=True)
        try:
            applied = on_borrowed(self._database, lambda: applied_migrations(self._database.cursor()))
        finally:
            if opened:
                self._database.close()
        missing = [migration for migration in known_migrations() if migration not in applied]
        if missing:
            raise StoreUnavailable(f"postgres lacks migrations {', '.join(missing)}: run `cruncan migrate`")
