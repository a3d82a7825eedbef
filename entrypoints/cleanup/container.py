"""`cruncan cleanup`: deletes what the retention settings no longer keep."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.telemetry.providers import Telemetry
from domain.usecases.cleanup import CleanUp
from entrypoints.components import Core, Storage


class CleanupContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan cleanup`: the store and the clean-up use case."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    cleanup = providers.Singleton(
        CleanUp, uow=storage.unit_of_work.provider, clock=core.clock, batch_size=config.cleanup.batch_size
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> CleanupContainer:
    """The clean-up's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = CleanupContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
