"""Requests stored and relayed by the real ingestion use cases on the real Postgres and broker, the
settings a worker needs to forward them to WireMock, and what the worker left behind; with the
worker of `forwarding.feature` in the test process, as `cruncan worker` composes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from adapters.kafka.producer import KafkaPublisher
from adapters.postgres.database import close_database, connect_database
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.system import SystemClock
from adapters.telemetry.providers import Telemetry
from domain.model.request import StoredRequest
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.relay import RelayOutbox
from entrypoints.settings import load_settings
from entrypoints.worker.container import build_container
from entrypoints.worker.main import consumer
from harness.kafka import read_messages
from harness.postgres import query
from harness.tansu import TansuBroker
from harness.wiremock import WireMock, any_three_request, token_request, token_response
from runtime.background import BackgroundLoop

CLIENT_ID = "cruncan"
CLIENT_SECRET = "component-secret"
PARTITIONS = 3


@dataclass(frozen=True)
class Sent:
    """A request as stored, and the `ThreeRequest` the third party must receive for it."""

    request_id: str
    body: dict[str, Any]

    @property
    def three_request(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "metadata": {"source": "cruncan-api", "user_id": self.body["user_id"]},
            "one_request": self.body,
        }


class Pipeline:
    """Stores and publishes requests for a worker to forward, and inspects what it did."""

    def __init__(self, dsn: str, broker: TansuBroker, wiremock: WireMock, topic: str) -> None:
        self.dsn = dsn
        self.broker = broker
        self.wiremock = wiremock
        self.topic = topic
        self.dlq_topic = f"{topic}-dlq"
        self.group_id = f"{topic}-workers"
        self.sent: list[Sent] = []
        self.published = 0
        clock = SystemClock()
        self._database = connect_database(
            dsn, pool_size=4, connect_timeout_s=5, stale_timeout_s=300, statement_timeout_ms=10_000
        )
        self._publisher = KafkaPublisher(
            broker.bootstrap_servers,
            topic,
            partitions=PARTITIONS,
            replication_factor=1,
            linger_ms=0,
            delivery_timeout_ms=5000,
            request_timeout_ms=2000,
        )
        self._ingest = IngestRequest(self._unit_of_work, SnowflakeIdGenerator(clock, node=7), clock)
        self._relay = RelayOutbox(self._unit_of_work, self._publisher, clock)

    def worker_settings(self, concurrency: int = 4) -> list[str]:
        """`key=value` settings for a worker forwarding this pipeline's topic to WireMock."""
        return [
            "storage.backend=postgres",
            f"storage.postgres.dsn={self.dsn}",
            "messaging.backend=kafka",
            f"messaging.kafka.bootstrap_servers={self.broker.bootstrap_servers}",
            f"messaging.kafka.topic={self.topic}",
            f"messaging.kafka.partitions={PARTITIONS}",
            "messaging.kafka.request_timeout_ms=2000",
            "messaging.kafka.delivery_timeout_ms=5000",
            f"worker.group_id={self.group_id}",
            f"worker.dlq_topic={self.dlq_topic}",
            "worker.session_timeout_ms=2000",
            f"worker.concurrency={concurrency}",
            "worker.commit_interval_s=0.2",
            "third_party.retry.base_s=0.05",
            "worker.retry.base_s=0.1",
            "worker.shutdown_timeout_s=10",
            # Any free port: several workers (and other test runs) share this machine.
            "worker.health.port=0",
            f"token.url={self.wiremock.base_url}",
            f"token.client_id={CLIENT_ID}",
            f"token.client_secret={CLIENT_SECRET}",
            "token.retry.base_s=0.05",
            f"third_party.url={self.wiremock.base_url}",
        ]

    def worker_arguments(self, concurrency: int = 4) -> list[str]:
        """`cruncan worker` flags for `worker_settings`."""
        return [argument for setting in self.worker_settings(concurrency) for argument in ("--set", setting)]

    def stub_token_and_third_party(self, token: str, delay_ms: int) -> None:
        """The token API issues `token`; the third party accepts, after `delay_ms`, any ThreeRequest
        that comes with it (the component scenarios stub each exact request instead)."""
        self.wiremock.stub(token_request(CLIENT_ID, CLIENT_SECRET), token_response(token))
        self.wiremock.stub(any_three_request(token), {"status": 200, "fixedDelayMilliseconds": delay_ms})

    def close(self) -> None:
        self._publisher.close(timeout_s=5)
        close_database(self._database)

    def store(self, user_id: str) -> Sent:
        body = {"user_id": user_id, "prompt": f"a prompt from {user_id}", "data": [{"key": "k1", "value": "15"}]}
        sent = Sent(self._ingest(body), body)
        self.sent.append(sent)
        return sent

    def store_and_publish(self, count: int) -> list[str]:
        """Stores `count` requests, for user-0 onwards, and publishes them; returns their IDs in order."""
        request_ids = [self.store(f"user-{n}").request_id for n in range(count)]
        self.publish()
        return request_ids

    def publish(self) -> None:
        """Relays every stored request to the topic, as the API's relay does."""
        while True:
            relayed = self._relay()
            assert relayed.undelivered == 0, f"the relay could not publish: {relayed}"
            self.published += relayed.delivered
            if relayed.claimed == 0:
                return

    def statuses(self) -> dict[str, int]:
        """How many stored requests are in each status."""
        found = query(self.dsn, "SELECT status, count(*) FROM request GROUP BY status")
        return {status: int(count) for status, count in found}

    def stored(self, request_id: str) -> StoredRequest:
        with self._unit_of_work() as uow:
            found = uow.requests.get(request_id)
        assert found is not None, f"request {request_id} is not stored"
        return found

    def committed(self) -> dict[int, int]:
        """The worker group's committed position of each partition of the topic that has one."""
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap_servers})
        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(self.group_id)])[self.group_id]
        partitions = future.result(timeout=10).topic_partitions or []
        return {p.partition: p.offset for p in partitions if p.topic == self.topic and p.offset >= 0}

    def ends(self) -> dict[int, int]:
        """One past the last offset of each partition that holds messages, from the messages themselves
        (Tansu's high watermark is the base offset of a partition's last batch, plus one)."""
        ends: dict[int, int] = {}
        for message in read_messages(self.broker.bootstrap_servers, self.topic, self.published):
            ends[message.partition] = max(ends.get(message.partition, 0), message.offset + 1)
        return ends

    def received_ids(self) -> list[str]:
        """The `Idempotency-Key` of every request the third party received, in the order they came."""
        journal = self.wiremock.requests({"method": "POST", "url": "/three"})
        return [_header(entry["headers"], "Idempotency-Key") for entry in reversed(journal)]

    def third_party_calls(self, request_id: str) -> int:
        return self.wiremock.count(
            {"method": "POST", "url": "/three", "headers": {"Idempotency-Key": {"equalTo": request_id}}}
        )

    def token_calls(self) -> int:
        return self.wiremock.count({"method": "POST", "url": "/v2/oauth/token"})

    def unmatched(self) -> str:
        requests = self.wiremock.unmatched()
        return "\n".join(f"{r['method']} {r['url']} {r.get('body', '')[:200]}" for r in requests) or "none"

    def _unit_of_work(self) -> PeeweeUnitOfWork:
        return PeeweeUnitOfWork(self._database)


class ForwardingWorld(Pipeline):
    """The pipeline, with a worker running in the test process."""

    def __init__(self, dsn: str, broker: TansuBroker, wiremock: WireMock, topic: str) -> None:
        super().__init__(dsn, broker, wiremock, topic)
        self._worker = build_container(
            load_settings(environ={}, overrides=self.worker_settings()), Telemetry.disabled("cruncan-worker")
        )
        self._loop: BackgroundLoop | None = None
        self._loop_timeout_s = 0.0

    def start_worker(self) -> None:
        self._loop, self._loop_timeout_s = consumer(self._worker)
        self._loop.start()

    def close(self) -> None:
        try:
            if self._loop is not None:
                assert self._loop.stop(self._loop_timeout_s), "the worker did not stop in time"
                assert self._loop.failed is None, f"the worker's loop failed: {self._loop.failed!r}"
        finally:
            self._worker.shutdown_resources()
            super().close()


def _header(headers: dict[str, Any], name: str) -> str:
    value = next(v for k, v in headers.items() if k.lower() == name.lower())
    return str(value[0] if isinstance(value, list) else value)
