"""The API in the test process, as `cruncan api` runs it: Flask behind waitress on a free port, on the
real Postgres and Tansu broker, with the outbox relay embedded. Each test gets empty tables and a
topic of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3

from adapters.telemetry.providers import Telemetry
from entrypoints.api.container import build_container
from entrypoints.api.main import api_services
from entrypoints.lifecycle import Service
from entrypoints.settings import load_settings
from harness.postgres import query
from harness.tansu import TansuBroker

MAX_BODY_BYTES = 4096


@dataclass(frozen=True)
class StoredRow:
    request_id: str
    user_id: str
    status: str
    sent: bool


@dataclass
class RunningApi:
    url: str
    dsn: str
    broker: TansuBroker
    topic: str
    http: urllib3.PoolManager

    def post(self, body: bytes, content_type: str = "application/json") -> urllib3.BaseHTTPResponse:
        return self.http.request("POST", f"{self.url}/one", body=body, headers={"Content-Type": content_type})

    def get(self, request_id: str) -> dict[str, Any]:
        response = self.http.request("GET", f"{self.url}/one/{request_id}")
        assert response.status == 200, response.data
        document: dict[str, Any] = response.json()
        return document

    def rows(self) -> list[StoredRow]:
        """Every stored request, with whether its outbox message was marked sent."""
        found = query(
            self.dsn,
            "SELECT r.req_id, r.user_id, r.status, o.sent_at IS NOT NULL"
            " FROM request r LEFT JOIN outbox o ON o.key = r.req_id ORDER BY r.req_id",
        )
        return [StoredRow(*row) for row in found]

    def outbox_size(self) -> int:
        [(count,)] = query(self.dsn, "SELECT count(*) FROM outbox")
        return int(count)


@pytest.fixture
def running_api(clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str) -> Iterator[RunningApi]:
    settings = load_settings(
        environ={},
        overrides=[
            "http.port=0",
            f"http.max_body_bytes={MAX_BODY_BYTES}",
            "storage.backend=postgres",
            f"storage.postgres.dsn={clean_postgres}",
            "messaging.backend=kafka",
            f"messaging.kafka.bootstrap_servers={kafka_broker.bootstrap_servers}",
            f"messaging.kafka.topic={fresh_topic}",
            "messaging.kafka.request_timeout_ms=2000",
            "relay.retry.base_s=0.2",
            "relay.poll_interval_s=0.5",
        ],
    )
    container = build_container(settings, Telemetry.disabled("cruncan-api"))
    started: list[tuple[Service, float]] = []
    try:
        server, services = api_services(container)
        for service, timeout_s in services:
            service.start()
            started.append((service, timeout_s))
        with urllib3.PoolManager(retries=False, timeout=10) as http:
            yield RunningApi(server.url, clean_postgres, kafka_broker, fresh_topic, http)
    finally:
        for service, timeout_s in reversed(started):
            service.stop(timeout_s)
        container.shutdown_resources()
        container.unwire()
