"""Metrics decorators around ports and use cases, so that neither holds metrics code."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from opentelemetry.semconv._incubating.attributes.messaging_attributes import MESSAGING_DESTINATION_NAME
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE

from adapters.telemetry.metrics import DEAD_LETTERED, FAILURE, FORWARDED, OUTCOME, SUCCESS, Metrics
from domain.model.errors import OutcomeNotRecorded
from domain.model.message import PendingMessage
from domain.model.outcomes import DeadLetter, Forwarded, ForwardOutcome
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.messages import ConsumedMessage, MessageHandler
from ports.publisher import Publisher
from ports.tokens import TokenClient
from ports.unit_of_work import UnitOfWorkFactory


class MeteredIngest:
    """Counts every ingestion as handled, then succeeded (a retry answered from its key too) or
    failed (with `error.type`), and times it."""

    def __init__(self, inner: Callable[[object, str | None, str | None], str], metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __call__(self, body: object, idempotency_key: str | None = None, submitted_by: str | None = None) -> str:
        started = time.perf_counter()
        self._metrics.ingest_handled.add(1)
        try:
            request_id = self._inner(body, idempotency_key, submitted_by)
        except Exception as exc:
            error = {ERROR_TYPE: type(exc).__qualname__}
            self._metrics.ingest_failed.add(1, error)
            self._metrics.ingest_duration.record(time.perf_counter() - started, error)
            raise
        self._metrics.ingest_succeeded.add(1)
        self._metrics.ingest_duration.record(time.perf_counter() - started)
        return request_id


class MeteredPublisher(Publisher):
    """Counts the messages the broker acknowledged and records, for each, the time since it was
    recorded in the outbox (`created_at`, on `clock`)."""

    def __init__(self, inner: Publisher, metrics: Metrics, clock: Clock, *, topic: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._clock = clock
        self._attributes = {MESSAGING_DESTINATION_NAME: topic}

    def publish(self, messages: Sequence[PendingMessage]) -> set[int]:
        delivered = self._inner.publish(messages)
        if delivered:
            now = self._clock.now()
            for pending in messages:
                if pending.outbox_id in delivered:
                    waited = (now - pending.message.created_at).total_seconds()
                    self._metrics.outbox_publish_duration.record(max(waited, 0.0), self._attributes)
            self._metrics.outbox_published.add(len(delivered), self._attributes)
        return delivered


class MeteredTokenClient(TokenClient):
    """Counts token API calls by `cruncan.outcome` (`success` or `failure`, with `error.type`)."""

    def __init__(self, inner: TokenClient, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def fetch(self) -> AccessToken:
        try:
            token = self._inner.fetch()
        except Exception as exc:
            self._metrics.token_fetches.add(1, {OUTCOME: FAILURE, ERROR_TYPE: type(exc).__qualname__})
            raise
        self._metrics.token_fetches.add(1, {OUTCOME: SUCCESS})
        return token


class MeteredForward:
    """Counts each consumed message brought to an outcome (`cruncan.outcome`: forwarded or
    dead_lettered), its retries and dead letters (`error.type`: the cause), and times it. An
    outcome reached but not recorded (`OutcomeNotRecorded`) counts too; a message that raised
    anything else has no outcome yet (it will be processed again): only timed."""

    def __init__(self, inner: MessageHandler, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __call__(self, message: ConsumedMessage) -> ForwardOutcome:
        started = time.perf_counter()
        try:
            outcome = self._inner(message)
        except OutcomeNotRecorded as exc:
            self._count(exc.outcome, started)
            raise
        except Exception as exc:
            self._metrics.forward_duration.record(time.perf_counter() - started, {ERROR_TYPE: type(exc).__qualname__})
            raise
        self._count(outcome, started)
        return outcome

    def _count(self, outcome: ForwardOutcome, started: float) -> None:
        result = {OUTCOME: FORWARDED if isinstance(outcome, Forwarded) else DEAD_LETTERED}
        self._metrics.forward_duration.record(time.perf_counter() - started, result)
        self._metrics.messages_processed.add(1, result)
        if outcome.attempts > 1:
            self._metrics.messages_retried.add(outcome.attempts - 1)
        if isinstance(outcome, DeadLetter):
            self._metrics.messages_dead_lettered.add(1, {ERROR_TYPE: outcome.cause.value})


def outbox_backlog(uow: UnitOfWorkFactory) -> Callable[[], int]:
    """Reads the outbox backlog in a unit of work of its own, for `Metrics.observe_outbox_backlog`."""

    def read() -> int:
        with uow() as unit:
            return unit.outbox.backlog()

    return read
