"""`cruncan migrate` as operators run it, and `cruncan api` on a database that is not migrated yet."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing

import pytest
import urllib3
from psycopg2.extensions import parse_dsn

from adapters.postgres.schema import known_migrations
from harness.postgres import admin_connection, tables
from tests.e2e.conftest import ROOT, RunningCommand

pytestmark = pytest.mark.postgres

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def migrate(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"],
        cwd=ROOT,
        env={"CRUNCAN_STORAGE__POSTGRES__DSN": dsn, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_applies_every_migration_then_finds_the_schema_up_to_date(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()

    first = migrate(dsn)
    second = migrate(dsn)

    assert first.returncode == 0, first.stderr
    assert f"applied {len(known_migrations())} migration(s): {', '.join(known_migrations())}" in first.stdout
    assert {"request", "outbox"} <= tables(dsn)
    assert second.returncode == 0, second.stderr
    assert "the schema is up to date" in second.stdout


def test_migrate_refuses_a_schema_newer_than_the_code(empty_database: Callable[[], str]) -> None:
    dsn = empty_database()
    assert migrate(dsn).returncode == 0
    with closing(admin_connection(dsn)) as connection:
        connection.cursor().execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)"
            " VALUES (md5('9999.future'), '9999.future', now() AT TIME ZONE 'UTC')"
        )

    refused = migrate(dsn)

    assert refused.returncode == 1
    assert "cruncan migrate: the database has migrations this code does not know: 9999.future" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout


def test_migrate_against_an_unreachable_database_fails_without_a_traceback(unreachable_dsn: str) -> None:
    result = migrate(unreachable_dsn)

    assert result.returncode == 1
    assert "cruncan migrate: postgres connection failed" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_migrate_says_which_server_it_could_not_reach_and_why(unreachable_dsn: str) -> None:
    port = parse_dsn(unreachable_dsn)["port"]

    result = migrate(unreachable_dsn)

    assert result.returncode == 1
    assert f'"127.0.0.1", port {port} failed: Connection refused' in result.stderr


def test_the_api_on_an_unmigrated_database_asks_for_migrate_then_serves_without_a_restart(
    cruncan: Callable[..., RunningCommand], empty_database: Callable[[], str]
) -> None:
    dsn = empty_database()
    api = cruncan(
        "api", "--port", "0", env={"CRUNCAN_STORAGE__BACKEND": "postgres", "CRUNCAN_STORAGE__POSTGRES__DSN": dsn}
    )
    url = api.url()
    http = urllib3.PoolManager(retries=False, timeout=10)

    readiness = http.request("GET", f"{url}/readyz")
    refused = http.request("POST", f"{url}/one", json=BODY)
    assert readiness.status == 503
    assert readiness.json()["checks"] == {"postgres": "unavailable"}
    assert "run `cruncan migrate`" in api.wait_for_line(re.compile("not ready.*")).group(0)
    assert (refused.status, refused.json()["error"]) == (503, "unavailable")
    assert "run `cruncan migrate`" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0

    assert migrate(dsn).returncode == 0
    assert http.request("GET", f"{url}/readyz").status == 200
    created = http.request("POST", f"{url}/one", json=BODY)
    assert created.status == 201, created.data
    assert api.terminate() == 0
