from __future__ import annotations

from dependency_injector import containers, providers

from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from domain.usecases.relay import RelayLoop, RelayOutbox
from entrypoints.components import Core, Messaging, Storage


class ApiContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan api`: the HTTP API, with the outbox relay embedded by default."""

    wiring_config = containers.WiringConfiguration(modules=[".views"], auto_wire=False)

    config = providers.Configuration(strict=True)

    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)

    ingest = providers.Singleton(IngestRequest, uow=storage.unit_of_work.provider, ids=core.ids, clock=core.clock)
    get_request = providers.Singleton(GetRequest, uow=storage.unit_of_work.provider)
    probes = providers.List(storage.probe, messaging.probe)

    relay = providers.Singleton(
        RelayOutbox,
        uow=storage.unit_of_work.provider,
        publisher=messaging.publisher,
        clock=core.clock,
        batch_size=config.relay.batch_size,
    )
    relay_loop = providers.Singleton(
        RelayLoop,
        relay=relay,
        signal=storage.outbox_signal,
        poll_interval_s=config.relay.poll_interval_s,
        retry_backoff_s=config.relay.retry_backoff_s,
    )
