"""OneService through a real channel to a real server on Postgres: every answer, every error code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from entrypoints.grpc.gen import one_pb2
from harness.postgres import query
from tests.component.grpc_world import (
    MAX_MESSAGE_BYTES,
    RunningGrpc,
    detail,
    running_grpc,
    status_of,
    submit_request,
    violations,
)

pytestmark = [pytest.mark.postgres]

ITEM_WITH_AN_UNKNOWN_FIELD = one_pb2.DataItem(key="k", value="v").SerializeToString() + b"\x18\x01"


def length_delimited(field_number: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes([field_number << 3 | 2, len(payload)]) + payload


@pytest.fixture
def grpc_api(clean_postgres: str) -> Iterator[RunningGrpc]:
    with running_grpc(clean_postgres) as running:
        yield running


def test_submit_stores_the_request_and_its_message_and_answers_its_id(grpc_api):
    reply = grpc_api.stub.Submit(submit_request(), timeout=10)

    assert len(reply.request_id) == 20
    assert reply.request_id.isdigit()
    assert query(grpc_api.dsn, "SELECT req_id, user_id, status FROM request") == [
        (reply.request_id, "user-1", "accepted")
    ]
    assert grpc_api.outbox() == [reply.request_id]


def test_get_answers_the_request_as_stored(grpc_api):
    request_id = grpc_api.stub.Submit(submit_request(prompt="hi", data=[("a", "1"), ("b", "")]), timeout=10).request_id

    found = grpc_api.stub.Get(one_pb2.GetRequest(request_id=request_id), timeout=10)

    assert found.request_id == request_id
    assert found.request == one_pb2.OneRequest(
        user_id="user-1", prompt="hi", data=[one_pb2.DataItem(key="a", value="1"), one_pb2.DataItem(key="b")]
    )
    assert found.status == one_pb2.REQUEST_STATUS_ACCEPTED
    assert not found.HasField("failure_reason")
    assert found.created_at == found.updated_at
    assert found.created_at.seconds > 0


@pytest.mark.parametrize(
    ("message", "field", "problem"),
    [
        (submit_request(user_id=""), "user_id", "must not be empty"),
        (submit_request(user_id=" \t"), "user_id", "must not be empty"),
        (submit_request(user_id="u" * 129), "user_id", "must be at most 128 characters"),
        (submit_request(prompt="a\x00b"), "prompt", "must not contain NUL characters"),
        (submit_request(data=[("k", "v"), ("", "v")]), "data[1].key", "must not be empty"),
        (submit_request(data=[("k", "v" * 4097)]), "data[0].value", "must be at most 4096 characters"),
        (submit_request(data=[("k", "v")] * 101), "data", "must hold at most 100 items"),
    ],
)
def test_a_broken_rule_is_invalid_argument_naming_the_field(grpc_api, message, field, problem):
    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.stub.Submit(message, timeout=10)

    assert violations(refused.value) == [(field, problem)]
    assert refused.value.details() == f"{field}: {problem}"
    assert grpc_api.stored() == 0


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        (submit_request().SerializeToString() + b"\x38\x01", "#7", "is not a known field"),
        (
            submit_request().SerializeToString() + length_delimited(3, ITEM_WITH_AN_UNKNOWN_FIELD),
            "data[1].#3",
            "is not a known field",
        ),
        (b"\x0a\x02\xff\xfe", "body", "String field had bad UTF-8"),
        (b"\x0a\x10ab", "body", "is not a valid cruncan.one.v1.SubmitRequest"),
        (b"\xff" * 12, "body", "is not a valid cruncan.one.v1.SubmitRequest"),
        (b"\x3b" * 2000 + b"\x3c" * 2000, "body", "is not a valid cruncan.one.v1.SubmitRequest"),
    ],
    ids=["unknown-field", "unknown-field-in-item", "bad-utf8", "truncated", "garbage", "deeply-nested-groups"],
)
def test_bytes_that_are_not_a_valid_submit_request_are_invalid_argument(grpc_api, raw, field, problem):
    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.submit_raw(raw)

    [(named, description)] = violations(refused.value)
    assert named == field
    assert problem in description
    assert grpc_api.stored() == 0


def test_a_message_over_the_limit_is_resource_exhausted_and_nothing_is_stored(grpc_api):
    oversized = submit_request(prompt="x" * MAX_MESSAGE_BYTES)

    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.stub.Submit(oversized, timeout=10)

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert grpc_api.stored() == 0


def test_a_message_just_under_the_limit_is_judged_on_its_content(grpc_api):
    items = [("k" * 200, "v" * 3)] * 60  # about 12 KiB, under the 16 KiB limit
    reply = grpc_api.stub.Submit(submit_request(data=items), timeout=10)

    assert (
        grpc_api.stub.Get(one_pb2.GetRequest(request_id=reply.request_id), timeout=10).request.data[59].key == "k" * 200
    )


IMPOSSIBLE_IDS = ["", "\x00", "x" * 10_000, "1" * 21, "-1", "\uff11\uff12"]


@pytest.mark.parametrize("request_id", ["00000000000000000001", *IMPOSSIBLE_IDS])
def test_an_unknown_or_impossible_id_is_not_found_without_echoing_it_at_length(grpc_api, request_id):
    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.stub.Get(one_pb2.GetRequest(request_id=request_id), timeout=10)

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert refused.value.details().startswith("no request with id")
    assert len(refused.value.details()) < 80


def test_the_store_down_is_unavailable_with_a_retry_delay_and_back_up_is_served_again(grpc_api):
    grpc_api.proxy.cut()
    try:
        with pytest.raises(grpc.RpcError) as refused:
            grpc_api.stub.Submit(submit_request(), timeout=20)
    finally:
        grpc_api.proxy.start()

    code, status = status_of(refused.value)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == "postgres connection failed", "the driver's reason stays in the log"
    assert detail(status, error_details_pb2.RetryInfo).retry_delay.seconds == 1
    assert grpc_api.stub.Submit(submit_request(), timeout=20).request_id


def test_health_serves_the_server_and_the_service(grpc_api):
    health = health_pb2_grpc.HealthStub(grpc_api.channel)

    for service in ("", "cruncan.one.v1.OneService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as unknown:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services_and_describes_one_service(grpc_api):
    reflection = reflection_pb2_grpc.ServerReflectionStub(grpc_api.channel)
    asks = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="cruncan.one.v1.OneService"),
    ]

    listed, described = list(reflection.ServerReflectionInfo(iter(asks), timeout=5))

    assert {s.name for s in listed.list_services_response.service} == {
        "cruncan.one.v1.OneService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    [one] = [f for f in files if f.name == "cruncan/one/v1/one.proto"]
    assert [m.name for m in one.service[0].method] == ["Submit", "Get"]


def test_stopping_turns_health_not_serving_before_the_server_goes(clean_postgres):
    with running_grpc(clean_postgres) as running:
        watch = health_pb2_grpc.HealthStub(running.channel).Watch(
            health_pb2.HealthCheckRequest(service="cruncan.one.v1.OneService"), timeout=30
        )
        seen = [next(watch).status]
        stopping = threading.Thread(target=running.server.stop, args=(5,))
        stopping.start()
        seen.append(next(watch).status)
        stopping.join(10)

    assert seen == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]


def test_a_retry_with_the_same_request_key_gets_the_first_id_and_stores_nothing(grpc_api):
    first = grpc_api.stub.Submit(submit_request(request_key="retry-1"), timeout=10)
    again = grpc_api.stub.Submit(submit_request(request_key="retry-1"), timeout=10)

    assert again.request_id == first.request_id
    assert grpc_api.stored() == 1
    assert grpc_api.outbox() == [first.request_id]


def test_a_request_key_reused_with_other_fields_is_already_exists(grpc_api):
    grpc_api.stub.Submit(submit_request(request_key="retry-2"), timeout=10)

    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.stub.Submit(submit_request(request_key="retry-2", prompt="another prompt"), timeout=10)

    code, status = status_of(refused.value)
    assert code == grpc.StatusCode.ALREADY_EXISTS
    info = detail(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "REQUEST_KEY_REUSED",
        "cruncan",
        {"field": "request_key"},
    )
    assert grpc_api.stored() == 1


@pytest.mark.parametrize(
    ("request_key", "problem"),
    [("k" * 256, "must be at most 255 characters"), ("clé", "must be printable ASCII"), ("a\x00", "printable ASCII")],
)
def test_a_malformed_request_key_is_invalid_argument_naming_it(grpc_api, request_key, problem):
    with pytest.raises(grpc.RpcError) as refused:
        grpc_api.stub.Submit(submit_request(request_key=request_key), timeout=10)

    [(field, description)] = violations(refused.value)
    assert field == "request_key"
    assert problem in description
    assert grpc_api.stored() == 0


def test_many_concurrent_retries_of_one_request_key_store_exactly_one_request(grpc_api):
    def attempt(_: int) -> str:
        try:
            return grpc_api.stub.Submit(submit_request(request_key="concurrent"), timeout=20).request_id
        except grpc.RpcError as exc:
            return exc.code().name

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(attempt, range(32)))

    [(request_id,)] = query(grpc_api.dsn, "SELECT req_id FROM request")
    assert set(answers) <= {request_id, "ABORTED"}, answers
    assert request_id in answers
    assert grpc_api.stub.Submit(submit_request(request_key="concurrent"), timeout=10).request_id == request_id


def test_the_service_checks_not_serving_while_the_store_is_down_and_liveness_stays_serving(grpc_api):
    health = health_pb2_grpc.HealthStub(grpc_api.channel)

    def status(service: str) -> int:
        return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=20).status

    grpc_api.proxy.cut()
    try:
        while_down = (status("cruncan.one.v1.OneService"), status(""))
    finally:
        grpc_api.proxy.start()

    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert while_down == (not_serving, serving)
    assert status("cruncan.one.v1.OneService") == serving
