"""Containers shared by the entrypoints: which adapter serves each port is chosen here, by configuration."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.probe import InProcessProbe
from adapters.memory.store import InMemoryOutboxSignal, InMemoryStore, InMemoryUnitOfWork
from adapters.system import SystemClock, outbound_ipv4
from domain.model.snowflake import node_from_ipv4
from domain.services.snowflake import SnowflakeIdGenerator


def node_id(node_ip: str | None) -> int:
    return node_from_ipv4(node_ip or outbound_ipv4())


class Storage(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    memory_store = providers.Singleton(InMemoryStore)

    unit_of_work = providers.Selector(
        config.backend,
        memory=providers.Factory(InMemoryUnitOfWork, store=memory_store),
    )
    outbox_signal = providers.Selector(
        config.backend,
        memory=providers.Singleton(InMemoryOutboxSignal, store=memory_store),
    )
    probe = providers.Selector(
        config.backend,
        memory=providers.Singleton(InProcessProbe, name="store"),
    )


class Messaging(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    memory_broker = providers.Singleton(InMemoryBroker, partitions=config.kafka.partitions)

    publisher = providers.Selector(
        config.backend,
        memory=providers.Singleton(InMemoryPublisher, broker=memory_broker, topic=config.kafka.topic),
    )
    probe = providers.Selector(
        config.backend,
        memory=providers.Singleton(InProcessProbe, name="broker"),
    )


class Core(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(
        SnowflakeIdGenerator,
        clock=clock,
        node=providers.Callable(node_id, config.ids.node_ip),
        backwards_tolerance_ms=config.ids.backwards_tolerance_ms,
    )
