from __future__ import annotations

from dependency_injector import containers, providers

from entrypoints.components import Core, Messaging, Observability, Relaying, Storage


class RelayContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan relay`: the outbox relay on its own, for scaling it apart from the API."""

    config = providers.Configuration(strict=True)

    observability = providers.Container(Observability, service_name="cruncan-relay")
    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    relaying = providers.Container(
        Relaying, config=config, clock=core.clock, storage=storage, messaging=messaging, observability=observability
    )
