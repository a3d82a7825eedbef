from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers

from adapters.telemetry.instrumentation import grpc_server_interceptors
from adapters.telemetry.metered import MeteredIngest
from adapters.telemetry.providers import Telemetry
from adapters.telemetry.tracing import traced_unit_of_work
from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from entrypoints.components import Authentication, Core, Messaging, Observability, Relaying, Storage
from entrypoints.grpc.auth import current_subject, with_authentication
from entrypoints.grpc.server import GrpcServer
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

    traced_unit_of_work = providers.Singleton(
        traced_unit_of_work, storage.unit_of_work.provider, observability.telemetry, db_system=storage.db_system
    )
    ingest = providers.Singleton(
        MeteredIngest,
        providers.Singleton(
            IngestRequest,
            uow=traced_unit_of_work,
            ids=core.ids,
            clock=core.clock,
            idempotency_window=providers.Factory(timedelta, seconds=config.idempotency.window_s),
        ),
        observability.metrics,
    )
    query = providers.Singleton(GetRequest, uow=traced_unit_of_work)
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
        interceptors=interceptors,
        probes=probes,
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> GrpcContainer:
    """The gRPC entrypoint's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = GrpcContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
