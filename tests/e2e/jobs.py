"""Failed requests seeded straight into Postgres, and what `cruncan redrive` made of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2.extensions

from harness.postgres import admin_connection, query
from tests.e2e.conftest import RunningCommand

Cruncan = Callable[..., RunningCommand]
GATE_APPLICATION = "cruncan-gate"
JOB_APPLICATION = "cruncan"


def request_ids(count: int) -> list[str]:
    return [f"{i:020d}" for i in range(1, count + 1)]


def seed_failed(dsn: str, count: int, reason: str = "third party answered 503") -> list[str]:
    """`count` requests that failed an hour ago, with their first message long sent."""
    ids = request_ids(count)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    body = json.dumps({"user_id": "user-1", "prompt": "again", "data": []})
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        for request_id in ids:
            cursor.execute(
                "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status, failure_reason)"
                " VALUES (%s, 'user-1', %s, %s, %s, 'failed', %s)",
                (request_id, hour_ago, hour_ago, body, reason),
            )
            cursor.execute(
                "INSERT INTO outbox (key, payload, headers, created_at, sent_at) VALUES (%s, %s, '{}', %s, %s)",
                (request_id, b"{}", hour_ago, hour_ago),
            )
    return ids


def redrive_messages(dsn: str) -> dict[str, list[str]]:
    """Each request's re-drive messages in the outbox: their `cruncan-redrive-count` headers."""
    found: dict[str, list[str]] = {}
    rows = query(dsn, "SELECT key, headers FROM outbox WHERE sent_at IS NULL ORDER BY id")
    for key, headers in rows:
        found.setdefault(key, []).append(headers.get("cruncan-redrive-count"))
    return found


def request_states(dsn: str) -> dict[str, tuple[str, int]]:
    return {r: (s, c) for r, s, c in query(dsn, "SELECT req_id, status, redrive_count FROM request")}


def assert_redriven_exactly_once(dsn: str, ids: list[str]) -> None:
    assert redrive_messages(dsn) == {request_id: ["1"] for request_id in ids}
    assert request_states(dsn) == dict.fromkeys(ids, ("accepted", 1))


def job_env(dsn: str, **settings: Any) -> dict[str, str]:
    """`cruncan redrive`/`cleanup` on Postgres; `settings` are further `CRUNCAN_*` variables without the prefix."""
    return {
        "CRUNCAN_STORAGE__BACKEND": "postgres",
        "CRUNCAN_STORAGE__POSTGRES__DSN": dsn,
        "OTEL_SDK_DISABLED": "true",
        **{f"CRUNCAN_{name}": str(value) for name, value in settings.items()},
    }


def held_gate(dsn: str, key: int) -> psycopg2.extensions.connection:
    """A connection holding advisory lock `key`: a replica gated on it stops after its claim until it closes."""
    connection = admin_connection(dsn)
    connection.cursor().execute("SELECT pg_advisory_lock(%s)", (key,))
    return connection


def waiting_at_gate(dsn: str) -> int:
    """How many gated replicas are waiting for the gate's advisory lock."""
    rows = query(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = %s AND wait_event_type = 'Lock'",
        GATE_APPLICATION,
    )
    return int(rows[0][0])


def failed_count(dsn: str) -> int:
    return int(query(dsn, "SELECT count(*) FROM request WHERE status = 'failed'")[0][0])
