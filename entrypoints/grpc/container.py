from __future__ import annotations

from dependency_injector import containers, providers

from adapters.telemetry.instrumentation import grpc_server_interceptors
from adapters.telemetry.providers import Telemetry
from entrypoints.components import Authentication, Core, Ingestion, Messaging, Observability, Relaying, Storage
from entrypoints.grpc.auth import current_subject, with_authentication
from entrypoints.grpc.server import ConnectionLimits, GrpcServer
from entrypoints.grpc.service import InFlight, OneService


class GrpcContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan grpc`: OneService, with the outbox relay embedded by default."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    observability = providers.Container(Observability, telemetry=telemetry)
    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    relaying = providers.Container(
        Relaying, config=config, clock=core.clock, storage=storage, messaging=messaging, observability=observability
    )

    ingestion = providers.Container(Ingestion, config=config, core=core, storage=storage, observability=observability)
    ingest = ingestion.ingest
    query = ingestion.query
    authentication = providers.Container(Authentication, config=config.auth)
    service = providers.Singleton(
        OneService,
        ingest=ingest,
        query=query,
        in_flight=providers.Singleton(InFlight),
        submitter=providers.Object(current_subject),
    )
    interceptors = providers.Callable(
        with_authentication,
        providers.Callable(grpc_server_interceptors, telemetry=observability.telemetry),
        enabled=config.auth.enabled,
        verifier=authentication.verifier.provider,
        record_subject=authentication.record_subject,
    )
    # Ready means able to accept: with the outbox, a broker outage delays publication but not ingestion.
    probes = providers.List(storage.probe)
    server = providers.Singleton(
        GrpcServer,
        service=service,
        host=config.grpc.host,
        port=config.grpc.port,
        threads=config.grpc.threads,
        max_message_bytes=config.grpc.max_message_bytes,
        connections=providers.Factory(
            ConnectionLimits,
            keepalive_time_ms=config.grpc.keepalive_time_ms,
            keepalive_timeout_ms=config.grpc.keepalive_timeout_ms,
            keepalive_permit_without_calls=config.grpc.keepalive_permit_without_calls,
            max_pings_without_data=config.grpc.max_pings_without_data,
            min_ping_interval_without_data_ms=config.grpc.min_ping_interval_without_data_ms,
            max_ping_strikes=config.grpc.max_ping_strikes,
            max_connection_idle_ms=config.grpc.max_connection_idle_ms,
            max_connection_age_ms=config.grpc.max_connection_age_ms,
            max_connection_age_grace_ms=config.grpc.max_connection_age_grace_ms,
        ),
        interceptors=interceptors,
        probes=probes,
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> GrpcContainer:
    """The gRPC entrypoint's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = GrpcContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
