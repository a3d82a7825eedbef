from __future__ import annotations

from dependency_injector import containers, providers

from adapters.http.third_party_client import Urllib3ThirdPartyClient
from adapters.http.token_client import Urllib3TokenClient
from adapters.kafka.consumer import KafkaMessageSource
from adapters.memory.consumer import InMemoryMessageSource
from adapters.memory.group import InMemoryConsumerGroup
from adapters.telemetry.messaging import traced_handler
from adapters.telemetry.metered import MeteredForward, MeteredTokenClient
from adapters.telemetry.providers import Telemetry
from domain.services.tokens import TokenCache
from domain.usecases.forward import ForwardRequest
from domain.usecases.record import RecordOutcome
from entrypoints.components import (
    Core,
    Messaging,
    Observability,
    Storage,
    closing,
    dead_letter_queue,
    retry_policy,
    traced_units_of_work,
)
from entrypoints.worker.health import WatchedSource, WorkerHealth
from runtime.consume import ConsumeLoop
from runtime.forwarding import decoding


class WorkerContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan worker`: consumes the requests topic and forwards each request
    to the third party, recording its outcome in the request store."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    observability = providers.Container(Observability, telemetry=telemetry)
    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    messaging = providers.Container(Messaging, config=config.messaging)

    traced_unit_of_work = traced_units_of_work(storage, observability)
    token_client = providers.Singleton(
        MeteredTokenClient,
        providers.Resource(
            closing,
            providers.Singleton(
                Urllib3TokenClient,
                token_url=config.token.url,
                client_id=config.token.client_id,
                client_secret=config.token.client_secret,
                clock=core.clock,
                scope=config.token.scope,
                timeout_s=config.token.timeout_s,
            ),
        ),
        observability.metrics,
    )
    tokens = providers.Singleton(
        TokenCache,
        client=token_client,
        clock=core.clock,
        expiry_skew_s=config.token.expiry_skew_s,
        retry=retry_policy(config.token.retry),
    )
    third_party = providers.Resource(
        closing,
        providers.Singleton(
            Urllib3ThirdPartyClient,
            third_party_url=config.third_party.url,
            clock=core.clock,
            connect_timeout_s=config.third_party.connect_timeout_s,
            read_timeout_s=config.third_party.read_timeout_s,
            pool_size=config.third_party.pool_size,
        ),
    )
    forward = providers.Singleton(
        ForwardRequest,
        uow=traced_unit_of_work,
        tokens=tokens,
        third_party=third_party,
        clock=core.clock,
        source=config.third_party.source,
        retry=retry_policy(config.third_party.retry),
    )
    handler = providers.Singleton(
        traced_handler,
        providers.Singleton(MeteredForward, providers.Singleton(decoding, forward), observability.metrics),
        observability.telemetry,
        consumer_group=config.worker.group_id,
    )
    record = providers.Singleton(RecordOutcome, uow=traced_unit_of_work, clock=core.clock)

    memory_group = providers.Singleton(InMemoryConsumerGroup)
    source = providers.Selector(
        config.messaging.backend,
        memory=providers.Singleton(
            InMemoryMessageSource,
            broker=messaging.memory_broker,
            topic=config.messaging.kafka.topic,
            group=memory_group,
        ),
        kafka=providers.Singleton(
            KafkaMessageSource,
            bootstrap_servers=config.messaging.kafka.bootstrap_servers,
            topic=config.messaging.kafka.topic,
            group_id=config.worker.group_id,
            session_timeout_ms=config.worker.session_timeout_ms,
            partitions=config.messaging.kafka.partitions,
            replication_factor=config.messaging.kafka.replication_factor,
            connection=messaging.connection,
            fetch_wait_max_ms=config.messaging.kafka.consumer_fetch_wait_max_ms,
            lag_refresh_s=config.worker.lag_refresh_s,
        ),
    )
    dead_letters = dead_letter_queue(config, messaging, config.worker.dlq_topic, "cruncan-worker-dlq")
    health = providers.Singleton(WorkerHealth, liveness_threshold_s=config.worker.health.liveness_threshold_s)
    loop = providers.Singleton(
        ConsumeLoop,
        source=providers.Singleton(WatchedSource, source, health),
        handle=handler,
        dead_letters=dead_letters,
        record=record,
        concurrency=config.worker.concurrency,
        drain_timeout_s=config.worker.shutdown_timeout_s,
        commit_interval_s=config.worker.commit_interval_s,
        retry=retry_policy(config.worker.retry),
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> WorkerContainer:
    """The worker's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = WorkerContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
