"""`cruncan grpc` as a real process on the real Postgres: it serves, and it drains on SIGTERM."""

from __future__ import annotations

import re
from contextlib import closing

import grpc
import pytest

from entrypoints.grpc.gen import one_pb2, one_pb2_grpc
from harness.polling import eventually
from harness.postgres import admin_connection, query

pytestmark = [pytest.mark.postgres]

GRPC_LISTENING = re.compile(r"cruncan grpc listening on grpc://([\d.]+:\d+)")
SUBMIT = one_pb2.SubmitRequest(user_id="user-1", prompt="hello", data=[one_pb2.DataItem(key="k", value="v")])


def grpc_process(cruncan, dsn: str):
    return cruncan(
        "grpc",
        "--port",
        "0",
        "--set",
        "relay.embedded=false",
        "--set",
        "storage.backend=postgres",
        "--set",
        f"storage.postgres.dsn={dsn}",
        "--set",
        "storage.postgres.statement_timeout_ms=30000",
    )


def waiting_on_a_lock(dsn: str) -> int:
    [(count,)] = query(
        dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return int(count)


def test_a_real_grpc_server_stores_and_serves_requests(cruncan, clean_postgres):
    server = grpc_process(cruncan, clean_postgres)
    target = server.wait_for_line(GRPC_LISTENING).group(1)

    with grpc.insecure_channel(target) as channel:
        stub = one_pb2_grpc.OneServiceStub(channel)
        request_id = stub.Submit(SUBMIT, timeout=10).request_id
        found = stub.Get(one_pb2.GetRequest(request_id=request_id), timeout=10)

    assert found.request.user_id == "user-1"
    assert server.terminate() == 0


def test_an_rpc_in_flight_when_sigterm_arrives_still_completes(cruncan, clean_postgres):
    server = grpc_process(cruncan, clean_postgres)
    target = server.wait_for_line(GRPC_LISTENING).group(1)
    with closing(admin_connection(clean_postgres)) as blocker, grpc.insecure_channel(target) as channel:
        blocker.autocommit = False
        blocker.cursor().execute("LOCK TABLE request IN ACCESS EXCLUSIVE MODE")
        stub = one_pb2_grpc.OneServiceStub(channel)
        in_flight = stub.Submit.future(SUBMIT, timeout=30)
        eventually(lambda: waiting_on_a_lock(clean_postgres) == 1, "the Submit waiting on the table lock")

        server.process.send_signal(15)
        server.wait_for_line(re.compile("stopping grpc server"))
        with pytest.raises(grpc.RpcError) as refused, grpc.insecure_channel(target) as late:
            one_pb2_grpc.OneServiceStub(late).Submit(SUBMIT, timeout=5)
        blocker.commit()

        request_id = in_flight.result(timeout=20).request_id

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert server.process.wait(20) == 0
    assert query(clean_postgres, "SELECT req_id FROM request") == [(request_id,)]
