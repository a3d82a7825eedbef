"""Containers shared by the entrypoints: which adapter serves each port is chosen here, by configuration.

Resources (pools, producers, listeners) start on first use and stop with `shutdown_resources()`, so
an entrypoint opens only what its configuration selects.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import version
from typing import Any, Protocol, TypeVar

from dependency_injector import containers, providers
from playhouse.pool import PooledPostgresqlDatabase

from adapters.auth.jwks import JwksKeys
from adapters.auth.verifier import PyJwtTokenVerifier
from adapters.kafka.dead_letters import KafkaDeadLetterQueue
from adapters.kafka.probe import KafkaProbe
from adapters.kafka.producer import KafkaPublisher
from adapters.memory.broker import InMemoryBroker, InMemoryPublisher
from adapters.memory.dead_letters import InMemoryDeadLetters
from adapters.memory.job_lock import InMemoryJobLock, InMemoryLocks
from adapters.memory.probe import InProcessProbe
from adapters.memory.store import InMemoryOutboxSignal, InMemoryStore, InMemoryUnitOfWork
from adapters.postgres.database import close_database, connect_database
from adapters.postgres.probe import PostgresProbe
from adapters.postgres.schema import migrate, rollback_last, schema_status
from adapters.postgres.signal import PostgresOutboxSignal
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.redis.job_lock import RedisJobLock
from adapters.system import SystemClock, outbound_ipv4
from adapters.telemetry.identity import record_subject
from adapters.telemetry.instrumentation import instrument_libraries
from adapters.telemetry.messaging import TracingPublisher
from adapters.telemetry.metered import MeteredIngest, MeteredPublisher, outbox_backlog
from adapters.telemetry.metrics import Metrics
from adapters.telemetry.providers import Telemetry
from adapters.telemetry.setup import collect_garbage_less_often, configure_telemetry
from adapters.telemetry.tracing import database_attributes, traced_unit_of_work
from domain.model.retry import RetryPolicy
from domain.model.snowflake import WHOLE_NODE, SequenceShare, node_from_ipv4
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest
from domain.usecases.query import GetRequest
from domain.usecases.relay import RelayOutbox
from entrypoints.connections import kafka_connection, postgres_dsn
from entrypoints.settings import SettingsError
from ports.clock import Clock
from ports.messages import DeadLetterQueue
from ports.unit_of_work import UnitOfWorkFactory
from runtime.relay import RelayLoop

VERSION = version("cruncan")


def start_telemetry(
    service_name: str, environment: str, console_level: str, secrets: list[str], log_format: str = "auto"
) -> Telemetry:
    """The first thing every process does: logs, traces and metrics, then the instrumented libraries
    (psycopg2 must be patched before any pool opens a connection) and, with telemetry on, a garbage
    collector that runs less often (see `collect_garbage_less_often`)."""
    telemetry = configure_telemetry(
        service_name,
        VERSION,
        environment,
        console_level=console_level,
        secrets=[s for s in secrets if s],
        log_format=log_format,
    )
    instrument_libraries(telemetry)
    collect_garbage_less_often(telemetry)
    return telemetry


def observe_backlog(metrics: Metrics, uow: UnitOfWorkFactory) -> None:
    metrics.observe_outbox_backlog(outbox_backlog(uow))


def retry_policy(section: providers.ConfigurationOption) -> providers.Singleton[RetryPolicy]:
    """The `RetryPolicy` of a settings section's `retry: {base_s, max_s, attempts}`."""
    return providers.Singleton(RetryPolicy, base_s=section.base_s, max_s=section.max_s, attempts=section.attempts)


def node_id(node_ip: str | None) -> int:
    return node_from_ipv4(node_ip or outbound_ipv4())


def postgres_pool(
    dsn: str, pool_size: int, connect_timeout_s: float, stale_timeout_s: float, statement_timeout_ms: int
) -> Iterator[PooledPostgresqlDatabase]:
    database = connect_database(dsn, pool_size, connect_timeout_s, stale_timeout_s, statement_timeout_ms)
    yield database
    close_database(database)


class _Closeable(Protocol):
    def close(self) -> None: ...


class _Drainable(Protocol):
    def close(self, timeout_s: float) -> None: ...


C = TypeVar("C", bound=_Closeable)
D = TypeVar("D", bound=_Drainable)


def closing(resource: C) -> Iterator[C]:
    """A resource closed on `shutdown_resources()`."""
    yield resource
    resource.close()


def closing_within(timeout_s: float, resource: D) -> Iterator[D]:
    """A resource given `timeout_s` on `shutdown_resources()` to finish what it has in flight, then closed."""
    yield resource
    resource.close(timeout_s)


class Storage(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    memory_store = providers.Singleton(InMemoryStore)
    db_system = providers.Selector(
        config.backend, memory=providers.Object("memory"), postgres=providers.Object("postgresql")
    )
    dsn = providers.Callable(postgres_dsn, config.postgres.dsn, config.postgres.password)
    # Where the database is, on the spans of its port calls.
    db_attributes = providers.Selector(
        config.backend, memory=providers.Object({}), postgres=providers.Callable(database_attributes, dsn)
    )
    migrate = providers.Callable(migrate, dsn=dsn)
    schema_status = providers.Callable(schema_status, dsn=dsn)
    rollback_last = providers.Callable(rollback_last, dsn=dsn)
    database = providers.Resource(
        postgres_pool,
        dsn=dsn,
        pool_size=config.postgres.pool_size,
        connect_timeout_s=config.postgres.connect_timeout_s,
        stale_timeout_s=config.postgres.stale_timeout_s,
        statement_timeout_ms=config.postgres.statement_timeout_ms,
    )

    unit_of_work = providers.Selector(
        config.backend,
        memory=providers.Factory(InMemoryUnitOfWork, store=memory_store),
        postgres=providers.Factory(PeeweeUnitOfWork, database=database),
    )
    outbox_signal = providers.Selector(
        config.backend,
        memory=providers.Resource(closing, providers.Singleton(InMemoryOutboxSignal, store=memory_store)),
        postgres=providers.Resource(
            closing,
            providers.Singleton(PostgresOutboxSignal, dsn=dsn, connect_timeout_s=config.postgres.connect_timeout_s),
        ),
    )
    probe = providers.Selector(
        config.backend,
        memory=providers.Singleton(InProcessProbe, name="store"),
        postgres=providers.Singleton(PostgresProbe, database=database),
    )


class Messaging(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    memory_broker = providers.Singleton(InMemoryBroker, partitions=config.kafka.partitions)
    connection = providers.Singleton(kafka_connection, config.kafka)

    publisher = providers.Selector(
        config.backend,
        memory=providers.Singleton(InMemoryPublisher, broker=memory_broker, topic=config.kafka.topic),
        kafka=providers.Resource(
            closing_within,
            config.kafka.close_timeout_s,
            providers.Singleton(
                KafkaPublisher,
                bootstrap_servers=config.kafka.bootstrap_servers,
                topic=config.kafka.topic,
                partitions=config.kafka.partitions,
                replication_factor=config.kafka.replication_factor,
                linger_ms=config.kafka.linger_ms,
                delivery_timeout_ms=config.kafka.delivery_timeout_ms,
                request_timeout_ms=config.kafka.request_timeout_ms,
                connection=connection,
            ),
        ),
    )
    probe = providers.Selector(
        config.backend,
        memory=providers.Singleton(InProcessProbe, name="broker"),
        kafka=providers.Singleton(KafkaProbe, bootstrap_servers=config.kafka.bootstrap_servers, connection=connection),
    )


def required_auth_setting(value: str, key: str) -> str:
    if not value:
        raise SettingsError(f"setting auth.{key} is required when auth.enabled is true")
    return value


def algorithm_list(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


class Authentication(containers.DeclarativeContainer):
    """Bearer-token verification for the entrypoints that serve requests (`auth` settings)."""

    config = providers.Configuration(strict=True)

    keys = providers.Singleton(
        JwksKeys,
        providers.Callable(required_auth_setting, config.jwks_url, "jwks_url"),
        lifespan_s=config.jwks_lifespan_s,
        cooldown_s=config.jwks_cooldown_s,
        timeout_s=config.jwks_timeout_s,
    )
    verifier = providers.Singleton(
        PyJwtTokenVerifier,
        keys,
        issuer=providers.Callable(required_auth_setting, config.issuer, "issuer"),
        audience=providers.Callable(required_auth_setting, config.audience, "audience"),
        algorithms=providers.Callable(algorithm_list, config.algorithms),
        leeway_s=config.leeway_s,
    )
    record_subject = providers.Object(record_subject)


class Core(containers.DeclarativeContainer):
    """The clock and the ID generator; `share` is this process's part of its node's IDs when several
    processes on one host issue them (`http.processes`)."""

    config = providers.Configuration(strict=True)
    share: providers.Dependency[SequenceShare] = providers.Dependency(instance_of=SequenceShare, default=WHOLE_NODE)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(
        SnowflakeIdGenerator,
        clock=clock,
        node=providers.Callable(node_id, config.ids.node_ip),
        backwards_tolerance_ms=config.ids.backwards_tolerance_ms,
        share=share,
    )


class Observability(containers.DeclarativeContainer):
    """The process's telemetry, given by the entrypoint (tests give `Telemetry.disabled`), and its metrics."""

    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)
    metrics = providers.Singleton(Metrics.of, telemetry)


def traced_units_of_work(storage: Any, observability: Any) -> providers.Singleton[UnitOfWorkFactory]:
    """The units of work of a `Storage` container, each port call a span and a measurement reported to an
    `Observability` container's telemetry, as every entrypoint composes them."""
    return providers.Singleton(
        traced_unit_of_work,
        storage.unit_of_work.provider,
        observability.telemetry,
        db_system=storage.db_system,
        db_attributes=storage.db_attributes,
    )


def dead_letter_queue(config: Any, messaging: Any, topic: Any, client_id: str) -> providers.Selector[DeadLetterQueue]:
    """A producer of whole messages to `topic` for the configured backend, on a `Messaging` container's
    broker (memory) or connection (Kafka), as the worker's dead letters and the re-drive of them use it."""
    return providers.Selector(
        config.messaging.backend,
        memory=providers.Singleton(InMemoryDeadLetters, broker=messaging.memory_broker, topic=topic),
        kafka=providers.Resource(
            closing_within,
            config.messaging.kafka.close_timeout_s,
            providers.Singleton(
                KafkaDeadLetterQueue,
                bootstrap_servers=config.messaging.kafka.bootstrap_servers,
                topic=topic,
                partitions=config.messaging.kafka.partitions,
                replication_factor=config.messaging.kafka.replication_factor,
                delivery_timeout_ms=config.messaging.kafka.delivery_timeout_ms,
                request_timeout_ms=config.messaging.kafka.request_timeout_ms,
                client_id=client_id,
                connection=messaging.connection,
            ),
        ),
    )


class Relaying(containers.DeclarativeContainer):
    """The outbox relay, on the storage and messaging of whichever entrypoint embeds it. Its units of
    work are measured like the requests' but make no spans (they belong to no request: every idle poll
    would be a trace); each message it publishes continues the trace of the request that stored it."""

    config = providers.Configuration(strict=True)
    clock: providers.Dependency[Clock] = providers.Dependency()
    storage = providers.DependenciesContainer()
    messaging = providers.DependenciesContainer()
    observability = providers.DependenciesContainer()

    publisher = providers.Singleton(
        MeteredPublisher,
        providers.Singleton(
            TracingPublisher, messaging.publisher, observability.telemetry, topic=config.messaging.kafka.topic
        ),
        observability.metrics,
        clock,
        topic=config.messaging.kafka.topic,
    )
    observe_backlog = providers.Callable(observe_backlog, observability.metrics, storage.unit_of_work.provider)
    unit_of_work = traced_units_of_work(storage, observability)
    relay = providers.Singleton(
        RelayOutbox,
        uow=unit_of_work,
        publisher=publisher,
        clock=clock,
        batch_size=config.relay.batch_size,
    )
    loop = providers.Singleton(
        RelayLoop,
        relay=relay,
        signal=storage.outbox_signal,
        poll_interval_s=config.relay.poll_interval_s,
        retry=retry_policy(config.relay.retry),
        drain_s=config.relay.drain_s,
    )


class Ingestion(containers.DeclarativeContainer):
    """Taking a request in and reading it back, traced and metered, as every API (HTTP, gRPC) composes it."""

    config = providers.Configuration(strict=True)
    core = providers.DependenciesContainer()
    storage = providers.DependenciesContainer()
    observability = providers.DependenciesContainer()

    traced_unit_of_work = traced_units_of_work(storage, observability)
    ingest = providers.Singleton(
        MeteredIngest,
        providers.Singleton(
            IngestRequest,
            uow=traced_unit_of_work,
            ids=core.ids,
            clock=core.clock,
            idempotency_window=providers.Factory(timedelta, seconds=config.idempotency.window_s),
        ),
        observability.metrics,
    )
    query = providers.Singleton(GetRequest, uow=traced_unit_of_work)


class Jobs(containers.DeclarativeContainer):
    """The lock a job command takes under `name`: in this process only (memory), or on Redis for replicas."""

    config = providers.Configuration(strict=True)
    clock: providers.Dependency[Clock] = providers.Dependency()
    name: providers.Dependency[str] = providers.Dependency(instance_of=str)

    memory_locks = providers.Singleton(InMemoryLocks)
    lock = providers.Selector(
        config.backend,
        memory=providers.Singleton(InMemoryJobLock, memory_locks, name, config.ttl_s, clock),
        redis=providers.Resource(
            closing, providers.Singleton(RedisJobLock, url=config.redis_url, name=name, ttl_s=config.ttl_s)
        ),
    )
