"""`cruncan cleanup` processes on the real Postgres: two at once delete each old row once, and nothing
unsent, recent or unexpired."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from harness.postgres import admin_connection, query
from tests.e2e.jobs import Cruncan, job_env

pytestmark = [pytest.mark.postgres]

OLD, RECENT = 300, 40
DELETED = re.compile(
    r"deleted (\d+) sent outbox message\(s\), (\d+) request\(s\), (\d+) expired idempotency key\(s\) in all"
)


def seed(dsn: str) -> None:
    """OLD forwarded requests 10 days old with sent messages and expired keys; RECENT of each kind, kept;
    and old requests still waiting (accepted, message unsent), also kept."""
    now = datetime.now(UTC)
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        for i in range(OLD + RECENT):
            old = i < OLD
            at = now - timedelta(days=10) if old else now
            request_id = f"{i:020d}"
            cursor.execute(
                "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status)"
                " VALUES (%s, 'u', %s, %s, '{}', 'forwarded')",
                (request_id, at, at),
            )
            cursor.execute(
                "INSERT INTO outbox (key, payload, created_at, sent_at) VALUES (%s, '', %s, %s)",
                (request_id, at, at),
            )
            cursor.execute(
                "INSERT INTO idempotency_key (key, fingerprint, req_id, created_at, expires_at)"
                " VALUES (%s, 'f', %s, %s, %s)",
                (f"key-{i}", request_id, at, at + timedelta(days=1)),
            )
        for i in range(RECENT):
            request_id = f"w{i:019d}"
            old = now - timedelta(days=10)
            cursor.execute(
                "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status)"
                " VALUES (%s, 'u', %s, %s, '{}', 'accepted')",
                (request_id, old, old),
            )
            cursor.execute("INSERT INTO outbox (key, payload, created_at) VALUES (%s, '', %s)", (request_id, old))


def count(dsn: str, table: str) -> int:
    return int(query(dsn, f"SELECT count(*) FROM {table}")[0][0])


def test_two_cleanups_at_once_delete_each_old_row_once_and_nothing_else(cruncan: Cruncan, clean_postgres: str) -> None:
    seed(clean_postgres)
    env = job_env(
        clean_postgres, CLEANUP__OUTBOX_RETENTION="5d", CLEANUP__REQUEST_RETENTION="5d", CLEANUP__BATCH_SIZE=7
    )
    dry = cruncan("cleanup", "--dry-run", env=env)
    assert dry.process.wait(60) == 0, dry.output()
    assert (
        f"dry run: would delete {OLD} sent outbox message(s), {OLD} request(s), {OLD} expired idempotency key(s)"
        in dry.output()
    )

    runs = [cruncan("cleanup", env=env) for _ in range(2)]

    assert [run.process.wait(120) for run in runs] == [0, 0], [run.output() for run in runs]
    totals = [tuple(int(n) for n in run.wait_for_line(DELETED).groups()) for run in runs]
    messages, requests, keys = (sum(column) for column in zip(*totals, strict=True))
    assert (messages, requests) == (OLD, OLD)
    assert keys <= OLD, "a key is purged, or deleted with its request"
    assert count(clean_postgres, "outbox") == RECENT + RECENT
    assert count(clean_postgres, "outbox WHERE sent_at IS NULL") == RECENT
    assert count(clean_postgres, "request") == RECENT + RECENT
    assert count(clean_postgres, "idempotency_key") == RECENT


def test_off_keeps_messages_and_requests(cruncan: Cruncan, clean_postgres: str) -> None:
    seed(clean_postgres)
    env = job_env(clean_postgres, CLEANUP__OUTBOX_RETENTION="off", CLEANUP__REQUEST_RETENTION="off")

    run = cruncan("cleanup", env=env)

    assert run.process.wait(60) == 0, run.output()
    assert run.wait_for_line(DELETED).groups() == ("0", "0", str(OLD))
    assert count(clean_postgres, "outbox") == OLD + 2 * RECENT
    assert count(clean_postgres, "request") == OLD + 2 * RECENT
