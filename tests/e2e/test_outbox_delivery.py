"""Every committed request is published at least once, whatever fails: real `cruncan` processes on the
real Postgres and Tansu broker, killed, stopped and run side by side."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager

import psycopg2
import pytest
import urllib3
from psycopg2.extensions import make_dsn, parse_dsn

from harness.kafka import published_keys, read_messages
from harness.polling import eventually
from harness.postgres import query
from harness.tansu import TansuBroker
from harness.tcp_proxy import TcpProxy
from tests.e2e.conftest import RunningCommand

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

Cruncan = Callable[..., RunningCommand]

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}
RELAY_STARTED = re.compile(r"cruncan relay publishing the outbox")
RELAY_STOPPING = re.compile(r"stopping outbox relay")
RELAY_FAILED_PASS = re.compile(r"relay pass left messages unpublished")


def stack_env(dsn: str, broker: TansuBroker, topic: str, **settings: str) -> dict[str, str]:
    """`cruncan` on Postgres and Kafka; `settings` are further `CRUNCAN_*` variables, by name without the prefix."""
    return {
        "CRUNCAN_STORAGE__BACKEND": "postgres",
        "CRUNCAN_STORAGE__POSTGRES__DSN": dsn,
        "CRUNCAN_MESSAGING__BACKEND": "kafka",
        "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CRUNCAN_MESSAGING__KAFKA__TOPIC": topic,
        "CRUNCAN_MESSAGING__KAFKA__REQUEST_TIMEOUT_MS": "2000",
        "CRUNCAN_MESSAGING__KAFKA__DELIVERY_TIMEOUT_MS": "5000",
        "CRUNCAN_RELAY__RETRY__BASE_S": "0.2",
        "CRUNCAN_RELAY__POLL_INTERVAL_S": "0.5",
        **{f"CRUNCAN_{name}": value for name, value in settings.items()},
    }


class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = urllib3.PoolManager(maxsize=8, retries=False, timeout=10)

    def get(self, path: str) -> urllib3.BaseHTTPResponse:
        return self.http.request("GET", f"{self.url}{path}")

    def post(self) -> urllib3.BaseHTTPResponse:
        return self.http.request("POST", f"{self.url}/one", json=BODY)

    def create(self) -> str:
        response = self.post()
        assert response.status == 201, response.data
        request_id: str = response.json()["request_id"]
        return request_id

    def create_unless_unavailable(self) -> str | None:
        """The new request's ID, or None on a 503; any other answer fails the test."""
        response = self.post()
        assert response.status in (201, 503), response.data
        return response.json().get("request_id") if response.status == 201 else None

    def status(self, request_id: str) -> str:
        response = self.get(f"/one/{request_id}")
        assert response.status == 200, response.data
        status: str = response.json()["status"]
        return status

    def assert_store_unavailable(self) -> None:
        """Requests that need the store get 503 with `Retry-After` and a JSON error; readiness names postgres."""
        for response in (self.post(), self.post(), self.get("/one/00000000000000000001")):
            assert response.status == 503, response.data
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"] == "unavailable"
        readiness = self.get("/readyz")
        assert readiness.status == 503, readiness.data
        assert readiness.json()["checks"]["postgres"] != "ok"
        assert "postgres" in readiness.json()["detail"]


def unsent(dsn: str) -> int:
    return int(query(dsn, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0])


def statuses(dsn: str) -> dict[str, str]:
    return dict(query(dsn, "SELECT req_id, status FROM request"))


@contextmanager
def postgres_proxy(dsn: str) -> Iterator[TcpProxy]:
    """A proxy to the Postgres server of `dsn`, which the test can cut without stopping the server for others."""
    server = parse_dsn(dsn)
    with TcpProxy(server.get("host", "127.0.0.1"), int(server.get("port", "5432"))) as proxy:
        yield proxy


def through(proxy: TcpProxy, dsn: str) -> str:
    return make_dsn(dsn, host="127.0.0.1", port=proxy.port)


def waiting_on_a_lock(dsn: str) -> int:
    """How many sessions on `dsn`'s database wait for a lock another session holds."""
    found = query(
        dsn,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return int(found[0][0])


@contextmanager
def request_row_locked(dsn: str, request_id: str) -> Iterator[None]:
    """Holds the `request` row in an open transaction, so whoever updates it waits until the block ends."""
    with closing(psycopg2.connect(dsn)) as connection:
        connection.cursor().execute("SELECT 1 FROM request WHERE req_id = %s FOR UPDATE", (request_id,))
        try:
            yield
        finally:
            connection.rollback()


def test_a_request_accepted_while_the_broker_is_down_is_published_when_it_returns(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    api = cruncan("api", "--port", "0", env=stack_env(clean_postgres, kafka_broker, fresh_topic))
    client = Client(api.url())
    before = client.create()
    eventually(lambda: client.status(before) == "published", "the first request published")

    with kafka_broker.outage():
        during = client.create()
        api.wait_for_line(RELAY_FAILED_PASS)
        assert client.status(during) == "accepted"
        assert unsent(clean_postgres) == 1

    eventually(lambda: client.status(during) == "published", "the request accepted during the outage published")
    assert during in published_keys(kafka_broker.bootstrap_servers, fresh_topic)
    assert unsent(clean_postgres) == 0
    assert api.terminate() == 0


def test_a_relay_killed_between_publishing_and_marking_publishes_again(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    env = stack_env(clean_postgres, kafka_broker, fresh_topic, RELAY__EMBEDDED="false")
    client = Client(cruncan("api", "--port", "0", env=env).url())
    request_id = client.create()

    with request_row_locked(clean_postgres, request_id):
        doomed = cruncan("relay", env=env)
        [message] = read_messages(kafka_broker.bootstrap_servers, fresh_topic, count=1)
        assert message.key == request_id
        eventually(lambda: waiting_on_a_lock(clean_postgres), "the relay blocked marking the message sent")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(10)
    assert unsent(clean_postgres) == 1, "the killed relay must not have marked the message sent"
    assert client.status(request_id) == "accepted"

    successor = cruncan("relay", env=env)
    eventually(lambda: unsent(clean_postgres) == 0, "the next relay publishing the message again")
    assert client.status(request_id) == "published"
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == [request_id, request_id]
    assert successor.terminate() == 0


def test_relays_side_by_side_publish_every_request_exactly_once(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    env = stack_env(clean_postgres, kafka_broker, fresh_topic, RELAY__EMBEDDED="false", RELAY__BATCH_SIZE="5")
    client = Client(cruncan("api", "--port", "0", env=env).url())
    relays = [cruncan("relay", env=env) for _ in range(3)]
    for relay in relays:
        relay.wait_for_line(RELAY_STARTED)

    with ThreadPoolExecutor(max_workers=8) as pool:
        request_ids = list(pool.map(lambda _: client.create(), range(120)))

    eventually(lambda: unsent(clean_postgres) == 0, "every message marked sent")
    assert set(statuses(clean_postgres).values()) == {"published"}
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == sorted(request_ids)
    assert [relay.terminate() for relay in relays] == [0, 0, 0]


def test_cruncan_api_publishes_what_it_accepted_before_it_exits_on_sigterm(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    env = stack_env(clean_postgres, kafka_broker, fresh_topic, RELAY__BATCH_SIZE="5")
    api = cruncan("api", "--port", "0", env=env)
    client = Client(api.url())
    first = client.create()

    with request_row_locked(clean_postgres, first):
        eventually(lambda: waiting_on_a_lock(clean_postgres), "the relay busy with the first request")
        accepted = [first, *(client.create() for _ in range(19))]
        api.process.send_signal(signal.SIGTERM)
        api.wait_for_line(RELAY_STOPPING)
    assert api.process.wait(30) == 0, api.output()

    assert unsent(clean_postgres) == 0, "requests accepted before SIGTERM were left unpublished"
    assert statuses(clean_postgres) == dict.fromkeys(accepted, "published")
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == sorted(accepted)


def test_a_database_down_from_the_start_answers_503_and_is_used_once_it_is_back(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    with postgres_proxy(clean_postgres) as proxy:
        proxy.cut()
        api = cruncan("api", "--port", "0", env=stack_env(through(proxy, clean_postgres), kafka_broker, fresh_topic))
        client = Client(api.url())

        client.assert_store_unavailable()

        proxy.restore()
        request_id = eventually(client.create_unless_unavailable, "a 201 once the database is back")
        eventually(lambda: client.status(request_id) == "published", "the request published")
        assert client.get("/readyz").status == 200
        assert api.terminate() == 0
    assert statuses(clean_postgres) == {request_id: "published"}
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == [request_id]


def test_a_database_that_drops_the_pooled_connections_answers_503_and_recovers_without_a_restart(
    cruncan: Cruncan, clean_postgres: str, kafka_broker: TansuBroker, fresh_topic: str
) -> None:
    with postgres_proxy(clean_postgres) as proxy:
        api = cruncan("api", "--port", "0", env=stack_env(through(proxy, clean_postgres), kafka_broker, fresh_topic))
        client = Client(api.url())
        before = client.create()
        eventually(lambda: client.status(before) == "published", "the first request published")
        assert proxy.connections() >= 2, "the API's pool and the relay's LISTEN session go through the proxy"

        proxy.cut()
        client.assert_store_unavailable()

        proxy.restore()
        after = eventually(client.create_unless_unavailable, "a 201 once the database is back")
        eventually(lambda: client.status(after) == "published", "the request after the outage published")
        assert client.get("/readyz").status == 200
        assert api.terminate() == 0
    assert statuses(clean_postgres) == {before: "published", after: "published"}
    assert published_keys(kafka_broker.bootstrap_servers, fresh_topic) == sorted([before, after])
