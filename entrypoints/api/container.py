from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers

from adapters.telemetry.instrumentation import instrument_flask_app
from adapters.telemetry.metered import MeteredIngest
from adapters.telemetry.providers import Telemetry
from adapters.telemetry.tracing import traced_unit_of_work
from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from entrypoints.components import Authentication, Core, Messaging, Observability, Relaying, Storage


class ApiContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan api`: the HTTP API, with the outbox relay embedded by default.
    Only the views are wired, and only when the app is created."""

    wiring_config = containers.WiringConfiguration(modules=[".views"], auto_wire=False)

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
    # Ready means able to accept: with the outbox, a broker outage delays publication but not ingestion.
    probes = providers.List(storage.probe)
    instrument_app = providers.Callable(instrument_flask_app, telemetry=observability.telemetry)


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> ApiContainer:
    """The API's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = ApiContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
