from __future__ import annotations

from dependency_injector import containers, providers

from adapters.telemetry.providers import Telemetry
from entrypoints.components import Core, Messaging, Observability, Relaying, Storage


class RelayContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan relay`: the outbox relay on its own, for scaling it apart from the API."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    observability = providers.Container(Observability, telemetry=telemetry)
    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    relaying = providers.Container(
        Relaying, config=config, clock=core.clock, storage=storage, messaging=messaging, observability=observability
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> RelayContainer:
    """The relay's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = RelayContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
