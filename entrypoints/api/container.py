from __future__ import annotations

from dependency_injector import containers, providers

from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from entrypoints.components import Core, Messaging, Relaying, Storage


class ApiContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan api`: the HTTP API, with the outbox relay embedded by default."""

    config = providers.Configuration(strict=True)

    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    relaying = providers.Container(Relaying, config=config, clock=core.clock, storage=storage, messaging=messaging)

    ingest = providers.Singleton(IngestRequest, uow=storage.unit_of_work.provider, ids=core.ids, clock=core.clock)
    get_request = providers.Singleton(GetRequest, uow=storage.unit_of_work.provider)
    probes = providers.List(storage.probe, messaging.probe)
