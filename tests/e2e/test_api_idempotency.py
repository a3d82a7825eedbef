"""Many clients retrying one POST at once, over real HTTP, against `cruncan api` on Postgres."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3

from harness.postgres import query
from tests.e2e.conftest import RunningCommand

pytestmark = pytest.mark.postgres

BODY = {"user_id": "user-1", "prompt": "pay once", "data": [{"key": "order", "value": "42"}]}
CLIENTS = 32


def api_on_postgres(cruncan: Callable[..., RunningCommand], dsn: str) -> str:
    api = cruncan(
        "api",
        "--port",
        "0",
        "--set",
        "relay.embedded=false",
        env={"CRUNCAN_STORAGE__BACKEND": "postgres", "CRUNCAN_STORAGE__POSTGRES__DSN": dsn},
    )
    return api.url()


def test_concurrent_retries_of_one_key_store_one_request_and_all_get_its_id(
    cruncan: Callable[..., RunningCommand], clean_postgres: str
) -> None:
    url = api_on_postgres(cruncan, clean_postgres)
    http = urllib3.PoolManager(maxsize=CLIENTS, retries=False, timeout=10)
    start = threading.Barrier(CLIENTS)

    def client() -> tuple[list[int], str]:
        """POSTs until a 201, honouring 409 as "try again"; returns every status seen and the ID."""
        statuses: list[int] = []
        start.wait(timeout=30)
        while True:
            answer = http.request("POST", f"{url}/one", json=BODY, headers={"Idempotency-Key": "pay-42"})
            statuses.append(answer.status)
            if answer.status != 409:
                assert answer.status == 201, answer.data
                return statuses, answer.json()["request_id"]
            time.sleep(0.01)

    with ThreadPoolExecutor(CLIENTS) as threads:
        results = [future.result(timeout=120) for future in [threads.submit(client) for _ in range(CLIENTS)]]

    assert {request_id for _, request_id in results} == {results[0][1]}
    assert {status for statuses, _ in results for status in statuses} <= {201, 409}
    assert query(clean_postgres, "SELECT req_id FROM request") == [(results[0][1],)]
    assert query(clean_postgres, "SELECT key FROM outbox") == [(results[0][1],)]
    assert query(clean_postgres, "SELECT key, req_id FROM idempotency_key") == [("pay-42", results[0][1])]


def test_the_same_key_with_another_body_is_refused_by_the_live_server(
    cruncan: Callable[..., RunningCommand], clean_postgres: str
) -> None:
    url = api_on_postgres(cruncan, clean_postgres)
    http = urllib3.PoolManager(retries=False, timeout=10)
    key = {"Idempotency-Key": "pay-43"}

    first = http.request("POST", f"{url}/one", json=BODY, headers=key)
    other = http.request("POST", f"{url}/one", json={**BODY, "prompt": "pay twice"}, headers=key)
    bad = http.request("POST", f"{url}/one", json=BODY, headers={"Idempotency-Key": "x" * 256})

    assert first.status == 201
    assert (other.status, other.json()["error"]) == (422, "idempotency_key_reused")
    assert (bad.status, bad.json()["error"]) == (400, "invalid_idempotency_key")
    assert query(clean_postgres, "SELECT count(*) FROM request") == [(1,)]
