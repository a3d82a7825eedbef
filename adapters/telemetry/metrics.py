"""cruncan's own instruments, named after OpenTelemetry conventions, with UCUM units."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from adapters.telemetry.providers import Telemetry
from ports.messages import TopicPartition

OUTCOME = "cruncan.outcome"
FORWARDED = "forwarded"
DEAD_LETTERED = "dead_lettered"
SUCCESS = "success"
FAILURE = "failure"

DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0)

log = logging.getLogger(__name__)


class Metrics:
    """Every instrument, created once per process from one meter; the `Metered*` decorators
    record into them at the port and use-case boundaries."""

    def __init__(self, meter: Meter, *, shutting_down: Callable[[], bool] = lambda: False) -> None:
        self._meter = meter
        self._shutting_down = shutting_down
        self.ingest_handled = meter.create_counter(
            "cruncan.ingest.handled", unit="{request}", description="Ingestion requests received."
        )
        self.ingest_succeeded = meter.create_counter(
            "cruncan.ingest.succeeded", unit="{request}", description="Ingestion requests stored and acknowledged."
        )
        self.ingest_failed = meter.create_counter(
            "cruncan.ingest.failed", unit="{request}", description="Ingestion requests refused or not stored."
        )
        self.ingest_duration = meter.create_histogram(
            "cruncan.ingest.duration",
            unit="s",
            description="Time to validate, store and acknowledge an ingestion request.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self.outbox_publish_duration = meter.create_histogram(
            "cruncan.outbox.publish.duration",
            unit="s",
            description="Time from recording a message in the outbox to the broker acknowledging it.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self.outbox_published = meter.create_counter(
            "cruncan.outbox.published", unit="{message}", description="Outbox messages the broker acknowledged."
        )
        self.messages_processed = meter.create_counter(
            "cruncan.worker.messages.processed", unit="{message}", description="Messages that reached an outcome."
        )
        self.messages_retried = meter.create_counter(
            "cruncan.worker.messages.retried", unit="{retry}", description="Forwarding attempts made again."
        )
        self.messages_dead_lettered = meter.create_counter(
            "cruncan.worker.messages.dead_lettered", unit="{message}", description="Messages sent to the dead letters."
        )
        self.forward_duration = meter.create_histogram(
            "cruncan.worker.forward.duration",
            unit="s",
            description="Time to bring a consumed message to its outcome, retries included.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self.token_fetches = meter.create_counter(
            "cruncan.token.fetches", unit="{fetch}", description="Access token requests to the token API."
        )

    @classmethod
    def of(cls, telemetry: Telemetry) -> Metrics:
        return cls(telemetry.meter(), shutting_down=lambda: telemetry.shutting_down)

    def observe_consumer_lag(self, lag: Callable[[], Mapping[TopicPartition, int]]) -> None:
        """Reports `lag()` as `cruncan.worker.consumer.lag`, one point per partition, at every collection but
        the last (made while shutting down, after the consumer closed); call once per process."""

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            if self._shutting_down():
                return []
            try:
                measured = lag()
            except Exception as exc:
                log.warning("consumer lag not observed: %s", exc)
                return []
            return [
                Observation(
                    behind,
                    {"messaging.destination.name": p.topic, "messaging.destination.partition.id": str(p.partition)},
                )
                for p, behind in sorted(measured.items())
            ]

        self._meter.create_observable_gauge(
            "cruncan.worker.consumer.lag",
            callbacks=[observe],
            unit="{message}",
            description="Messages of a partition the worker's group has not committed yet.",
        )

    def observe_outbox_backlog(self, backlog: Callable[[], int]) -> None:
        """Reports `backlog()` as `cruncan.outbox.backlog` at every collection but the last, made while
        telemetry shuts down, after the storage `backlog()` reads has closed; call once per process."""

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            if self._shutting_down():
                return []
            try:
                return [Observation(backlog())]
            except Exception as exc:
                log.warning("outbox backlog not observed: %s", exc)
                return []

        self._meter.create_observable_gauge(
            "cruncan.outbox.backlog",
            callbacks=[observe],
            unit="{message}",
            description="Outbox messages waiting to be published.",
        )
