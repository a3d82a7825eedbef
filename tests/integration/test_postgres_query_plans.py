"""The queries that scan `request` by creation time read the index on `created_at` (migration 0005) and
stop at their limit, on the plans Postgres makes for a table of some size (statistics gathered, no planner
setting changed); without that index they read the whole table."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest

from adapters.postgres.idempotency import PURGE_EXPIRED_BATCH
from adapters.postgres.outbox import DELETE_SENT_BEFORE
from adapters.postgres.repository import COUNT_FINISHED_BEFORE, DELETE_FINISHED_BEFORE, select_newest
from adapters.postgres.schema import migrate
from harness.postgres import admin_connection, query

pytestmark = pytest.mark.postgres

ROWS = 10_000
BATCH = 1000  # cleanup.batch_size as shipped
INDEX = "request_created_at"
OLDEST_HUNDRED = "2026-01-01T00:01:40Z"


@pytest.fixture
def filled(empty_database: Callable[[], str]) -> str:
    """A migrated database of its own with `ROWS` requests, one a second, most of them forwarded."""
    dsn = empty_database()
    migrate(dsn)
    execute_and_analyze(
        dsn,
        """
        INSERT INTO request (req_id, user_id, created_at, updated_at, req, status)
        SELECT lpad(i::text, 20, '0'), 'user-1', timestamptz '2026-01-01' + i * interval '1 s',
               timestamptz '2026-01-01' + i * interval '1 s', '{"user_id": "user-1"}',
               CASE WHEN mod(i, 10) = 0 THEN 'failed' ELSE 'forwarded' END
        FROM generate_series(1, %s) AS i
        """,
        ROWS,
    )
    execute_and_analyze(
        dsn,
        """
        INSERT INTO outbox (key, payload, created_at, sent_at)
        SELECT lpad(i::text, 20, '0'), '\\x00', timestamptz '2026-01-01' + i * interval '1 s',
               timestamptz '2026-01-01' + i * interval '1 s'
        FROM generate_series(1, %s) AS i
        """,
        ROWS,
    )
    execute_and_analyze(
        dsn,
        """
        INSERT INTO idempotency_key (key, fingerprint, req_id, created_at, expires_at)
        SELECT 'key-' || i, 'f', lpad(i::text, 20, '0'), timestamptz '2026-01-01' + i * interval '1 s',
               timestamptz '2026-01-02' + i * interval '1 s'
        FROM generate_series(1, %s) AS i
        """,
        ROWS,
    )
    return dsn


def execute_and_analyze(dsn: str, statement: str, *parameters: Any) -> None:
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute(statement, parameters or None)
        cursor.execute("ANALYZE request")
        cursor.execute("ANALYZE outbox")
        cursor.execute("ANALYZE idempotency_key")


def plan(dsn: str, statement: str, parameters: list[Any]) -> list[dict[str, Any]]:
    """The nodes of the plan of `statement`, each once."""
    [(document,)] = query(dsn, "EXPLAIN (FORMAT JSON) " + statement, *parameters)
    nodes, pending = [], [document[0]["Plan"]]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.get("Plans", []))
    return nodes


def reads_the_newest_through_the_index(dsn: str) -> bool:
    """Whether `recent` reads `request` backwards through the index alone, sorting at most the requests
    that share a creation time (an incremental sort presorted on created_at), never the table."""
    nodes = plan(dsn, *select_newest(20))
    scans = [(n["Node Type"], n.get("Index Name"), n.get("Scan Direction")) for n in nodes if "Relation Name" in n]
    sorts = [n for n in nodes if "Sort" in n["Node Type"]]
    return scans == [("Index Scan", INDEX, "Backward")] and all(s.get("Presorted Key") == ["created_at"] for s in sorts)


def finds_old_requests_through_the_index(dsn: str, statement: str) -> bool:
    nodes = plan(dsn, statement, [OLDEST_HUNDRED] + [100] * statement.count("LIMIT"))
    return any(n.get("Relation Name") == "request" and n.get("Index Name") == INDEX for n in nodes)


def test_the_newest_requests_are_read_backwards_from_the_index_up_to_the_limit(filled: str) -> None:
    assert reads_the_newest_through_the_index(filled)


@pytest.mark.parametrize("statement", [COUNT_FINISHED_BEFORE, DELETE_FINISHED_BEFORE], ids=["count", "delete"])
def test_the_clean_up_finds_old_requests_through_the_index(filled: str, statement: str) -> None:
    assert finds_old_requests_through_the_index(filled, statement)


CLEAN_UP_DELETES = {
    "request": (DELETE_FINISHED_BEFORE, ["2026-01-01T02:00:00Z", BATCH]),
    "outbox": (DELETE_SENT_BEFORE, ["2026-01-01T02:00:00Z", BATCH]),
    "idempotency_key": (PURGE_EXPIRED_BATCH, ["2026-01-02T02:00:00Z", BATCH]),
}


def deletes_its_batch_by_primary_key(dsn: str, table: str, statement: str, parameters: list[Any]) -> bool:
    """Whether `statement` reaches the rows it deletes from `table` through an index, never by
    reading the whole table: a batch of the clean-up must cost the batch, not the table."""
    nodes = plan(dsn, statement, parameters)
    return not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table for n in nodes)


@pytest.mark.parametrize("table", CLEAN_UP_DELETES)
def test_a_clean_up_batch_reads_its_rows_not_the_table(filled: str, table: str) -> None:
    assert deletes_its_batch_by_primary_key(filled, table, *CLEAN_UP_DELETES[table])


def test_deleting_where_the_key_is_in_the_batch_reads_the_whole_table(filled: str) -> None:
    """The form the clean-up avoids: `IN (subquery)`, which Postgres may join as a hash semi join
    over every row of the table."""
    statement, parameters = CLEAN_UP_DELETES["request"]
    as_in = statement.replace("req_id = ANY(ARRAY(", "req_id IN (").removesuffix(")")

    assert "req_id IN (\n" in as_in
    assert as_in.rstrip().endswith("SKIP LOCKED\n    )")
    assert not deletes_its_batch_by_primary_key(filled, "request", as_in, parameters)


def test_these_checks_fail_on_a_table_without_the_index(filled: str) -> None:
    execute_and_analyze(filled, f"DROP INDEX {INDEX}")

    assert not reads_the_newest_through_the_index(filled)
    assert not finds_old_requests_through_the_index(filled, COUNT_FINISHED_BEFORE)
    assert not finds_old_requests_through_the_index(filled, DELETE_FINISHED_BEFORE)
    assert "Seq Scan" in {node["Node Type"] for node in plan(filled, *select_newest(20))}
