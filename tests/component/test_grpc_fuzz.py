"""Submit under generated and hostile input: every message is either stored exactly as sent or refused with
INVALID_ARGUMENT naming a field (RESOURCE_EXHAUSTED when too large); never INTERNAL, never a partial store."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.model.errors import InvalidRequest
from domain.model.request import OneRequest
from entrypoints.grpc.gen import one_pb2
from harness.postgres import query
from tests.component.grpc_world import RunningGrpc, running_grpc, status_of, violations

pytestmark = [pytest.mark.postgres]

EXPECTED_REFUSALS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.sampled_from(["", " ", "\x00", "a\x00", "é" * 129])
items = st.builds(one_pb2.DataItem, key=texts, value=texts)
messages = st.builds(
    one_pb2.SubmitRequest,
    user_id=texts,
    prompt=texts | st.integers(9_990, 10_010).map(lambda n: "p" * n),
    data=st.lists(items, max_size=110),
)


@pytest.fixture(scope="module")
def fuzzed(postgres_dsn: str) -> Iterator[RunningGrpc]:
    with running_grpc(postgres_dsn) as running:
        yield running


def answer(running: RunningGrpc, raw: bytes) -> tuple[bytes, grpc.RpcError | None]:
    try:
        return running.submit_raw(raw), None
    except grpc.RpcError as refused:
        return b"", refused


def expected_outcome(message: one_pb2.SubmitRequest) -> str | None:
    """The field the domain's rules name for this message, or None if it is valid."""
    body = {
        "user_id": message.user_id,
        "prompt": message.prompt,
        "data": [{"key": item.key, "value": item.value} for item in message.data],
    }
    try:
        OneRequest.from_json(body)
    except InvalidRequest as exc:
        return exc.field
    return None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(messages)
def test_a_generated_message_is_stored_as_sent_or_refused_naming_the_field(fuzzed, message):
    raw = message.SerializeToString()
    reply, refused = answer(fuzzed, raw)
    if refused is not None:
        code, _ = status_of(refused)
        assert code in EXPECTED_REFUSALS, refused.details()
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            [(field, _)] = violations(refused)
            assert field == expected_outcome(message)
        else:
            assert len(raw) > 16_384
        return
    assert expected_outcome(message) is None
    request_id = one_pb2.SubmitResponse.FromString(reply).request_id
    stored = fuzzed.stub.Get(one_pb2.GetRequest(request_id=request_id), timeout=10)
    assert stored.request == one_pb2.OneRequest(user_id=message.user_id, prompt=message.prompt, data=message.data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_make_the_server_fail(fuzzed, raw):
    before = query(fuzzed.dsn, "SELECT count(*) FROM request")
    _, refused = answer(fuzzed, raw)
    if refused is not None:
        assert refused.code() in EXPECTED_REFUSALS, refused.details()
        assert query(fuzzed.dsn, "SELECT count(*) FROM request") == before
