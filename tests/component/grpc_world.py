"""`cruncan grpc` in the test process, as the command runs it, on the real Postgres reached through a
proxy the test can cut; clients dial it over a real channel. The relay is not embedded: these tests look
at what the RPCs store, and the outbox rows they leave are checked in the database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from psycopg2.extensions import make_dsn, parse_dsn

from adapters.telemetry.providers import Telemetry
from entrypoints.grpc.container import build_container
from entrypoints.grpc.gen import one_pb2, one_pb2_grpc
from entrypoints.grpc.main import grpc_services
from entrypoints.grpc.server import GrpcServer
from entrypoints.settings import load_settings
from harness.postgres import query
from harness.tcp_proxy import TcpProxy

MAX_MESSAGE_BYTES = 16_384
T = TypeVar("T")


@dataclass
class RunningGrpc:
    server: GrpcServer
    channel: grpc.Channel
    dsn: str
    proxy: TcpProxy

    @property
    def stub(self) -> Any:
        return one_pb2_grpc.OneServiceStub(self.channel)

    def submit_raw(self, raw: bytes, metadata: Sequence[tuple[str, str]] = ()) -> bytes:
        """Sends `raw` as the Submit message, serialized or not."""
        call = self.channel.unary_unary("/cruncan.one.v1.OneService/Submit")
        reply: bytes = call(raw, timeout=10, metadata=metadata)
        return reply

    def stored(self) -> int:
        [(count,)] = query(self.dsn, "SELECT count(*) FROM request")
        return int(count)

    def outbox(self) -> list[str]:
        return [key for (key,) in query(self.dsn, "SELECT key FROM outbox ORDER BY id")]


def status_of(error: grpc.RpcError) -> tuple[grpc.StatusCode, status_pb2.Status | None]:
    """The code of a failed call and the `google.rpc.Status` it carried, if any."""
    return error.code(), rpc_status.from_call(error)  # type: ignore[attr-defined, arg-type]


def detail(status: status_pb2.Status, kind: type[T]) -> T:
    """The one detail of type `kind` packed in `status`."""
    found = []
    for packed in status.details:
        unpacked = kind()
        if packed.Unpack(unpacked):
            found.append(unpacked)
    assert len(found) == 1, status
    return found[0]


def violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    code, status = status_of(error)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, error.details())  # type: ignore[attr-defined]
    assert status is not None
    return [(v.field, v.description) for v in detail(status, error_details_pb2.BadRequest).field_violations]


@contextmanager
def running_grpc(dsn: str, *overrides: str, telemetry: Telemetry | None = None) -> Iterator[RunningGrpc]:
    server_address = parse_dsn(dsn)
    with TcpProxy(server_address.get("host", "127.0.0.1"), int(server_address.get("port", "5432"))) as proxy:
        settings = load_settings(
            environ={},
            overrides=[
                "grpc.port=0",
                f"grpc.max_message_bytes={MAX_MESSAGE_BYTES}",
                "grpc.shutdown_timeout_s=5",
                "storage.backend=postgres",
                f"storage.postgres.dsn={make_dsn(dsn, host='127.0.0.1', port=proxy.port)}",
                "storage.postgres.connect_timeout_s=1",
                "relay.embedded=false",
                *overrides,
            ],
        )
        container = build_container(settings, telemetry or Telemetry.disabled("cruncan-grpc"))
        server, services = grpc_services(container)
        for service, _ in services:
            service.start()
        try:
            with grpc.insecure_channel(server.target) as channel:
                yield RunningGrpc(server, channel, dsn, proxy)
        finally:
            for service, timeout_s in reversed(services):
                service.stop(timeout_s)
            container.shutdown_resources()


def submit_request(
    user_id: str = "user-1",
    prompt: str = "hello",
    data: Sequence[tuple[str, str]] = (("k", "v"),),
    request_key: str = "",
) -> Any:
    items = [one_pb2.DataItem(key=k, value=v) for k, v in data]
    return one_pb2.SubmitRequest(user_id=user_id, prompt=prompt, data=items, request_key=request_key)
