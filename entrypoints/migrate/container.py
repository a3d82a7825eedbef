from __future__ import annotations

from dependency_injector import containers, providers

from adapters.telemetry.providers import Telemetry
from entrypoints.components import Storage


class MigrateContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan migrate`: the configured storage, whose `migrate` applies the schema.
    It holds the process's telemetry like every root; the instrumented driver traces the migration."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    storage = providers.Container(Storage, config=config.storage)


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> MigrateContainer:
    """The migration's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = MigrateContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
