from __future__ import annotations

import secrets
from typing import Any

from dependency_injector import containers, providers
from flask import Flask

from adapters.memory.third_party import InMemoryThirdParty, InMemoryTokenIssuer
from adapters.telemetry.providers import Telemetry
from domain.usecases.query import ListRecentRequests
from entrypoints.api.container import ApiContainer
from entrypoints.api.server import WaitressServer
from entrypoints.components import Core, Messaging, Observability, Storage
from entrypoints.demo.faults import FaultSwitch, FaultyThirdParty
from entrypoints.demo.issuer import ALGORITHM, AUDIENCE, JWKS_PATH, DemoIssuer, tokens_for
from entrypoints.demo.page import demo_blueprint
from entrypoints.demo.stand_in import create_stand_in_app
from entrypoints.demo.steps import StepRecorder, record_steps
from entrypoints.grpc.container import GrpcContainer
from entrypoints.worker.container import WorkerContainer
from ports.clock import Clock

STAND_IN_HOST = "127.0.0.1"
STAND_IN_THREADS = 4


def stand_in_server(app: Flask, port: int) -> WaitressServer:
    server = WaitressServer(app, host=STAND_IN_HOST, port=port, threads=STAND_IN_THREADS)
    server.name = "stand-in third party"
    return server


class StandInContainer(containers.DeclarativeContainer):
    """The demo's token API and third party: in-memory stand-ins, served over HTTP by `server`."""

    config = providers.Configuration(strict=True)
    clock: providers.Dependency[Clock] = providers.Dependency()

    issuer = providers.Singleton(InMemoryTokenIssuer, clock=clock)
    third_party = providers.Singleton(InMemoryThirdParty, issuer=issuer)
    identity = providers.Singleton(DemoIssuer)
    faults = providers.Singleton(FaultSwitch)
    app = providers.Singleton(
        create_stand_in_app,
        issuer,
        providers.Singleton(FaultyThirdParty, third_party, faults),
        clock,
        client_id=config.token.client_id,
        client_secret=config.token.client_secret,
        jwks=identity.provided.jwks,
    )
    server = providers.Singleton(stand_in_server, app, port=config.demo.stand_in_port)


def demo_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """`settings` with every port in memory, the relay embedded, `GET /docs` on, and a client secret made
    up unless one is set."""
    token = settings["token"]
    return {
        **settings,
        "storage": {**settings["storage"], "backend": "memory"},
        "messaging": {**settings["messaging"], "backend": "memory"},
        "relay": {**settings["relay"], "embedded": True},
        "http": {**settings["http"], "docs": True},
        "token": {**token, "client_secret": token["client_secret"] or secrets.token_urlsafe(16)},
    }


def authenticated_by(settings: dict[str, Any], url: str) -> dict[str, Any]:
    """`settings` trusting the stand-in at `url` as the token issuer, when `auth.enabled`."""
    if not settings["auth"]["enabled"]:
        return settings
    issuer = {"jwks_url": f"{url}{JWKS_PATH}", "issuer": url, "audience": AUDIENCE, "algorithms": ALGORITHM}
    return {**settings, "auth": {**settings["auth"], **issuer}}


def pointed_at(settings: dict[str, Any], url: str) -> dict[str, Any]:
    """`settings` with the token API and the third party both at `url`."""
    return {
        **settings,
        "token": {**settings["token"], "url": url},
        "third_party": {**settings["third_party"], "url": url},
    }


class DemoContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan demo`: the API (with its relay), OneService over gRPC and the worker on
    ONE in-memory storage, ONE in-memory messaging, one clock and one set of metrics; the worker reaches the
    stand-ins over HTTP at the address their server bound."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    observability = providers.Container(Observability, telemetry=telemetry)
    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)
    stand_in = providers.Container(StandInContainer, config=config, clock=core.clock)

    serving_config = providers.Singleton(authenticated_by, config, stand_in.server.provided.url)
    api = providers.Container(
        ApiContainer,
        config=serving_config,
        telemetry=telemetry,
        observability=observability,
        core=core,
        storage=storage,
        messaging=messaging,
    )
    grpc = providers.Container(
        GrpcContainer,
        config=serving_config,
        telemetry=telemetry,
        observability=observability,
        core=core,
        storage=storage,
        messaging=messaging,
    )
    worker = providers.Container(
        WorkerContainer,
        config=providers.Singleton(pointed_at, config, stand_in.server.provided.url),
        telemetry=telemetry,
        observability=observability,
        core=core,
        storage=storage,
        messaging=messaging,
    )
    steps = providers.Singleton(record_steps, telemetry, providers.Singleton(StepRecorder))
    tokens = providers.Singleton(tokens_for, config.auth.enabled, stand_in.identity, stand_in.server.provided.url)
    page = providers.Singleton(
        demo_blueprint,
        providers.Singleton(ListRecentRequests, uow=storage.unit_of_work.provider),
        steps,
        stand_in.faults,
        tokens,
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> DemoContainer:
    """The demo's container on a copy of `settings` made in-memory (see `demo_settings`)."""
    container = DemoContainer(telemetry=telemetry)
    container.config.from_dict(demo_settings(settings()))
    return container
