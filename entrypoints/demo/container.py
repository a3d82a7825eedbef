from __future__ import annotations

from dependency_injector import containers, providers

from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from entrypoints.demo.stand_in import create_stand_in_app
from ports.clock import Clock


class StandInContainer(containers.DeclarativeContainer):
    """The demo's token API and third party: in-memory stand-ins, served over HTTP by `app`."""

    config = providers.Configuration(strict=True)
    clock: providers.Dependency[Clock] = providers.Dependency()

    issuer = providers.Singleton(InMemoryTokenIssuer, clock=clock)
    third_party = providers.Singleton(InMemoryThirdParty, issuer=issuer)
    app = providers.Singleton(
        create_stand_in_app,
        issuer,
        third_party,
        clock,
        client_id=config.token.client_id,
        client_secret=config.token.client_secret,
    )
