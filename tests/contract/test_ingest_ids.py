"""Ingestion when the store already holds the ID drawn, on both stores: two processes that share a
Snowflake node (the same `ids.node_ip`) draw the same ID when they draw in the same millisecond."""

from __future__ import annotations

import pytest

from adapters.memory.clock import ManualClock
from domain.model.errors import DuplicateRequest
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import ID_ATTEMPTS, IngestRequest
from domain.usecases.query import GetRequest
from tests.contract.conftest import Backend

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


class Repeating:
    """An ID generator gone wrong: the same ID every time."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.drawn = 0

    def next_id(self) -> str:
        self.drawn += 1
        return self.request_id


def test_two_processes_on_one_node_in_one_millisecond_both_store_their_request(backend: Backend) -> None:
    clock = ManualClock()
    first = IngestRequest(backend.unit_of_work, SnowflakeIdGenerator(clock, node=7), clock)
    second = IngestRequest(backend.unit_of_work, SnowflakeIdGenerator(clock, node=7), clock)

    ids = [first(BODY), second({**BODY, "prompt": "second"}), first(BODY), second(BODY)]

    assert len(set(ids)) == 4
    read = GetRequest(backend.unit_of_work)
    assert read(ids[1]).body.prompt == "second"
    assert [read(request_id).request_id for request_id in ids] == ids


def test_an_id_that_keeps_coming_back_is_refused_after_the_last_attempt_and_stores_nothing(backend: Backend) -> None:
    clock = ManualClock()
    taken = IngestRequest(backend.unit_of_work, SnowflakeIdGenerator(clock, node=7), clock)(BODY)
    repeating = Repeating(taken)

    with pytest.raises(DuplicateRequest):
        IngestRequest(backend.unit_of_work, repeating, clock)(BODY, idempotency_key="k-1")

    assert repeating.drawn == ID_ATTEMPTS
    fresh = IngestRequest(backend.unit_of_work, SnowflakeIdGenerator(clock, node=8), clock)
    assert fresh(BODY, idempotency_key="k-1") != taken, "the refused request left its key free"
