"""The queries that scan `request` by creation time read the index on `created_at` (migration 0005) and
stop at their limit, on the plans Postgres makes for a table of some size (statistics gathered, no planner
setting changed); without that index they read the whole table."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest

from adapters.postgres.repository import COUNT_FINISHED_BEFORE, DELETE_FINISHED_BEFORE, select_newest
from adapters.postgres.schema import migrate
from harness.postgres import admin_connection, query

pytestmark = pytest.mark.postgres

ROWS = 10_000
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
    return dsn


def execute_and_analyze(dsn: str, statement: str, *parameters: Any) -> None:
    with closing(admin_connection(dsn)) as connection:
        cursor = connection.cursor()
        cursor.execute(statement, parameters or None)
        cursor.execute("ANALYZE request")


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


def test_these_checks_fail_on_a_table_without_the_index(filled: str) -> None:
    execute_and_analyze(filled, f"DROP INDEX {INDEX}")

    assert not reads_the_newest_through_the_index(filled)
    assert not finds_old_requests_through_the_index(filled, COUNT_FINISHED_BEFORE)
    assert not finds_old_requests_through_the_index(filled, DELETE_FINISHED_BEFORE)
    assert "Seq Scan" in {node["Node Type"] for node in plan(filled, *select_newest(20))}
