"""`cruncan redrive`: sends failed requests again through the outbox."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import containers, providers

from adapters.kafka.dead_letter_reader import KafkaDeadLetterReader
from adapters.memory.dead_letter_reader import InMemoryDeadLetterReader
from adapters.postgres.gate import AdvisoryLockGate, no_gate
from adapters.telemetry.providers import Telemetry
from domain.model.request import StoredRequest
from domain.usecases.redrive import RedriveFailed
from domain.usecases.redrive_dead_letters import RedriveDeadLetters
from entrypoints.components import Core, Jobs, Messaging, Storage, dead_letter_queue

JOB = "redrive"


def lock_name(prefix: str, job: str) -> str:
    return f"{prefix}:{job}"


def gate(dsn: str, key: int) -> Callable[[list[StoredRequest]], None]:
    """The wait after each claimed batch that `redrive.hold_after_claim_lock` asks for (tests only)."""
    return AdvisoryLockGate(dsn, key) if key else no_gate


class RedriveContainer(containers.DeclarativeContainer):
    """Composition root of `cruncan redrive`: the store, the job lock, the re-drive use case, and for
    `--from-dlq` a reader of the dead-letter topic and a producer to the requests topic."""

    config = providers.Configuration(strict=True)
    telemetry: providers.Dependency[Telemetry] = providers.Dependency(instance_of=Telemetry)

    core = providers.Container(Core, config=config)
    storage = providers.Container(Storage, config=config.storage)
    jobs = providers.Container(
        Jobs,
        config=config.jobs.lock,
        clock=core.clock,
        name=providers.Callable(lock_name, config.jobs.lock.prefix, JOB),
    )
    redrive = providers.Singleton(
        RedriveFailed,
        uow=storage.unit_of_work.provider,
        clock=core.clock,
        lock=jobs.lock,
        batch_size=config.redrive.batch_size,
        before_commit=providers.Callable(gate, config.storage.postgres.dsn, config.redrive.hold_after_claim_lock),
    )

    messaging = providers.Container(Messaging, config=config.messaging)
    dlq_positions: providers.Singleton[dict[int, int]] = providers.Singleton(dict)
    letters = providers.Selector(
        config.messaging.backend,
        memory=providers.Factory(
            InMemoryDeadLetterReader, messaging.memory_broker, config.worker.dlq_topic, dlq_positions
        ),
        kafka=providers.Factory(
            KafkaDeadLetterReader,
            bootstrap_servers=config.messaging.kafka.bootstrap_servers,
            topic=config.worker.dlq_topic,
            group_id=config.redrive.dlq_group_id,
            connection=messaging.connection,
        ),
    )
    requests_topic = dead_letter_queue(config, messaging, config.messaging.kafka.topic, "cruncan-redrive")
    redrive_dead_letters = providers.Singleton(
        RedriveDeadLetters,
        uow=storage.unit_of_work.provider,
        clock=core.clock,
        letters=letters.provider,
        requests_topic=requests_topic,
        lock=jobs.lock,
    )


def build_container(settings: providers.Configuration, telemetry: Telemetry) -> RedriveContainer:
    """The re-drive's container on a copy of `settings`, reporting to the process's `telemetry`."""
    container = RedriveContainer(telemetry=telemetry)
    container.config.from_dict(settings())
    return container
