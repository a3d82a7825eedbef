from __future__ import annotations

from dependency_injector import containers, providers

from adapters.telemetry.instrumentation import instrument_flask_app
from adapters.telemetry.providers import Telemetry
from domain.model.snowflake import WHOLE_NODE, SequenceShare
from entrypoints.components import Authentication, Core, Ingestion, Messaging, Observability, Relaying, Storage


class ApiContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan api`: the HTTP API, with the outbox relay embedded by default.
    Only the views are wired, and only when the app is created."""

    wiring_config = containers.WiringConfiguration(modules=[".views"], auto_wire=False)

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)
    id_share: providers.Dependency[SequenceShare] = providers.Dependency(instance_of=SequenceShare, default=WHOLE_NODE)

    observability = providers.Container(Observability, telemetry=telemetry)
    core = providers.Container(Core, config=config, share=id_share)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    relaying = providers.Container(
        Relaying, config=config, clock=core.clock, storage=storage, messaging=messaging, observability=observability
    )

    ingestion = providers.Container(Ingestion, config=config, core=core, storage=storage, observability=observability)
    ingest = ingestion.ingest
    query = ingestion.query
    authentication = providers.Container(Authentication, config=config.auth)
    # Ready means able to accept: with the outbox, a broker outage delays publication but not ingestion.
    probes = providers.List(storage.probe)
    instrument_app = providers.Callable(instrument_flask_app, telemetry=observability.telemetry)


def build_container(
    settings: providers.Configuration, telemetry: Telemetry, id_share: SequenceShare = WHOLE_NODE
) -> ApiContainer:
    """The API's container on a copy of `settings`, reporting to the process's `telemetry`, issuing
    the IDs of `id_share` (all of its node's unless it is one of `http.processes`)."""
    container = ApiContainer(telemetry=telemetry, id_share=id_share)
    container.config.from_dict(settings())
    return container
