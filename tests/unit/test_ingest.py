import pytest

from adapters.memory.store import InMemoryUnitOfWork
from domain.model.errors import InvalidRequest, RequestNotFound
from domain.model.message import RequestMessage
from domain.model.request import RequestStatus
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


def test_a_request_is_stored_as_accepted_with_its_message_in_the_outbox(ingest, store, clock):
    request_id = ingest(BODY)

    stored = store.requests[request_id]
    assert stored.status is RequestStatus.ACCEPTED
    assert stored.body.to_json() == BODY
    assert stored.created_at == stored.updated_at == clock.now()
    [message] = store.outbox.values()
    assert message.key == request_id
    assert RequestMessage.decode(message.payload) == RequestMessage(request_id, stored.body)


def test_an_invalid_request_leaves_nothing_behind(ingest, store):
    with pytest.raises(InvalidRequest):
        ingest({"user_id": ""})

    assert store.requests == {}
    assert store.outbox == {}


def test_the_id_is_returned_only_once_the_unit_of_work_committed(store, clock):
    class FailingCommit(InMemoryUnitOfWork):
        def commit(self) -> None:
            raise RuntimeError("the store went away during commit")

    ingest = IngestRequest(lambda: FailingCommit(store), SnowflakeIdGenerator(clock, node=3), clock)

    with pytest.raises(RuntimeError, match="went away"):
        ingest(BODY)

    assert store.requests == {}
    assert store.outbox == {}


def test_a_stored_request_can_be_read_back(ingest, store):
    request_id = ingest(BODY)

    found = GetRequest(lambda: InMemoryUnitOfWork(store))(request_id)

    assert found.request_id == request_id
    assert found.body.to_json() == BODY


def test_an_unknown_id_is_not_found(store):
    with pytest.raises(RequestNotFound, match="00000000000000000001"):
        GetRequest(lambda: InMemoryUnitOfWork(store))("00000000000000000001")
