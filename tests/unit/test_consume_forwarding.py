"""Ingest, relay and consume on the in-memory adapters: every request ends forwarded or dead-lettered."""

import threading
import time

import pytest

from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.clock import ManualClock
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.dead_letters import InMemoryDeadLetters
from adapters.memory.store import InMemoryStore, InMemoryUnitOfWork
from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from domain.model.errors import ThirdPartyRejected
from domain.model.request import RequestStatus
from domain.services.snowflake import SnowflakeIdGenerator
from domain.services.tokens import TokenCache
from domain.usecases.forward import ForwardRequest
from domain.usecases.ingest import IngestRequest
from domain.usecases.record import RecordOutcome
from domain.usecases.relay import RelayOutbox
from ports.messages import TopicPartition
from runtime.consume import ConsumeLoop
from runtime.forwarding import decoding

TOPIC = "one-request"
DLQ = "one-request-dlq"
PARTITIONS = 3


class Flow:
    def __init__(self):
        self.clock = ManualClock()
        self.store = InMemoryStore()
        self.broker = InMemoryBroker(partitions=PARTITIONS)
        self.issuer = InMemoryTokenIssuer(self.clock)
        self.third_party = InMemoryThirdParty(self.issuer)
        self.ingest = IngestRequest(self.unit_of_work, SnowflakeIdGenerator(self.clock, node=1), self.clock)
        self.relay = RelayOutbox(self.unit_of_work, InMemoryPublisher(self.broker, TOPIC), self.clock)
        forward = ForwardRequest(self.unit_of_work, TokenCache(self.issuer, self.clock), self.third_party, self.clock)
        self.source = InMemoryMessageSource(self.broker, TOPIC)
        self.loop = ConsumeLoop(
            self.source,
            decoding(forward),
            InMemoryDeadLetters(self.broker, DLQ),
            record=RecordOutcome(self.unit_of_work, self.clock),
            concurrency=4,
            drain_timeout_s=10,
            commit_interval_s=0.0,
            poll_timeout_s=0.02,
        )

    def unit_of_work(self):
        return InMemoryUnitOfWork(self.store)

    def status(self, request_id):
        return self.store.requests[request_id].status

    def committed(self):
        return sum(self.source.group.get(TopicPartition(TOPIC, p)) for p in range(PARTITIONS))


def wait_until(condition, what):
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within 10 s: {what}")
        time.sleep(0.005)


def test_ingested_requests_are_forwarded_recorded_and_committed_and_poison_is_dead_lettered():
    flow = Flow()
    request_ids = [flow.ingest({"user_id": f"user-{n}", "prompt": "hi"}) for n in range(20)]
    flow.third_party.fail_next(1, ThirdPartyRejected("the third party answered 400 Bad Request"))
    flow.relay()
    flow.broker.append(TOPIC, "poison", b"not json")
    stop = threading.Event()
    worker = threading.Thread(target=flow.loop.run, args=(stop,))
    worker.start()

    wait_until(lambda: flow.committed() == 21, "every message committed")
    stop.set()
    worker.join(10)

    statuses = sorted(flow.status(request_id) for request_id in request_ids)
    assert statuses == [RequestStatus.FAILED] + [RequestStatus.FORWARDED] * 19
    assert sorted(r.id for r in flow.third_party.received) == sorted(
        request_id for request_id in request_ids if flow.status(request_id) is RequestStatus.FORWARDED
    )
    letters = flow.broker.records(DLQ)
    assert sorted(letter.headers["cruncan.dlq.cause"] for letter in letters) == ["rejected", "undecodable"]
    assert next(letter.value for letter in letters if letter.key == "poison") == b"not json"
