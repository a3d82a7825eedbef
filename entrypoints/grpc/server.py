"""The gRPC server: OneService, the standard health service and server reflection, on one port.

Shutdown follows the health protocol: every service turns NOT_SERVING first (so balancers and
Kubernetes' gRPC probes stop sending), then the server refuses new RPCs and gives those in flight
a grace period to finish."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from entrypoints.grpc.service import SERVICE_NAME, OneService
from ports.health import Probe

log = logging.getLogger(__name__)


class ReadinessHealth(health.HealthServicer):
    """The standard health service. Checking OneService's name also runs the readiness probes, as
    `GET /readyz` does, so a gRPC readiness probe sees the store go down; the empty name is liveness."""

    def __init__(self, probes: Sequence[Probe]) -> None:
        super().__init__()
        self._probes = probes

    def Check(  # noqa: N802 (the gRPC method's name)
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        answer = super().Check(request, context)
        serving = answer.status == health_pb2.HealthCheckResponse.SERVING
        if request.service == SERVICE_NAME and serving and not all(_passes(probe) for probe in self._probes):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
        return answer


def _passes(probe: Probe) -> bool:
    try:
        probe.check()
    except Exception as exc:  # a probe reports any failure as "not ready"
        log.warning("not ready: %s: %s", probe.name, exc)
        return False
    return True


NEVER = 2**31 - 1
"""What gRPC reads as no limit for a connection's idle time and age."""


@dataclass(frozen=True)
class ConnectionLimits:
    """How long the server keeps a client's connection: it pings a quiet one and drops it when the ping
    goes unanswered, sends away a client that pings too often, and closes a connection idle, or old
    (0: never), so that clients reconnect. The settings `grpc.*` of the same names say more."""

    keepalive_time_ms: int
    keepalive_timeout_ms: int
    keepalive_permit_without_calls: bool
    max_pings_without_data: int
    min_ping_interval_without_data_ms: int
    max_ping_strikes: int
    max_connection_idle_ms: int
    max_connection_age_ms: int
    max_connection_age_grace_ms: int

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            # gRPC 1.85 drops a peer that leaves a keepalive ping unanswered after this one (60 s by
            # default), not after keepalive_timeout_ms: tests/component/test_grpc_connections.py.
            ("grpc.http2.ping_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", int(self.keepalive_permit_without_calls)),
            ("grpc.http2.max_pings_without_data", self.max_pings_without_data),
            ("grpc.http2.min_ping_interval_without_data_ms", self.min_ping_interval_without_data_ms),
            ("grpc.http2.max_ping_strikes", self.max_ping_strikes),
            ("grpc.max_connection_idle_ms", self.max_connection_idle_ms or NEVER),
            ("grpc.max_connection_age_ms", self.max_connection_age_ms or NEVER),
            ("grpc.max_connection_age_grace_ms", self.max_connection_age_grace_ms),
        ]


class GrpcServer:
    name = "grpc server"

    def __init__(
        self,
        service: OneService,
        *,
        host: str,
        port: int,
        threads: int,
        max_message_bytes: int,
        connections: ConnectionLimits,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
        probes: Sequence[Probe] = (),
    ) -> None:
        self._service = service
        self.host = host
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
            interceptors=list(interceptors),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
                *connections.options(),
            ],
        )
        self.health = ReadinessHealth(probes)
        self._server.add_generic_rpc_handlers((service.handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for gRPC on {host}:{port}")

    @property
    def target(self) -> str:
        """The address a client dials, `host:port`."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        self._server.start()
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    @property
    def running(self) -> bool:
        """Always true: grpcio serves from threads of its own core, which it does not expose; an RPC
        that fails is answered INTERNAL by grpcio and does not stop them."""
        return True

    def stop(self, timeout_s: float) -> bool:
        """Turns health NOT_SERVING, refuses new RPCs, and waits up to `timeout_s` for those in flight
        (cancelled after it). Returns whether every RPC in flight finished."""
        self.health.enter_graceful_shutdown()
        self._server.stop(grace=timeout_s).wait(timeout_s + 5)
        unfinished = self._service.in_flight.count
        if unfinished:
            log.warning("stopped with %d RPC(s) still in flight after %.1f s", unfinished, timeout_s)
        return unfinished == 0
