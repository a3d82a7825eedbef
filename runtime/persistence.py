"""Trying one message's step again, as a retry policy allows, for as long as its partition is ours."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TypeVar

from domain.model.errors import OutcomeNotRecorded
from domain.model.outcomes import ForwardOutcome
from domain.model.retry import RetryPolicy
from ports.messages import ConsumedMessage, MessageHandler
from runtime.naming import origin_name
from runtime.ownership import Ownership

log = logging.getLogger(__name__)

T = TypeVar("T")
RecordOutcome = Callable[[ForwardOutcome], None]


class Persistence:
    """Runs a message's step until it succeeds, waiting `retry`'s backoff after each failure (giving
    up after `retry.attempts` when that is not 0), and stops once the assignment it started under ends."""

    def __init__(self, ownership: Ownership, retry: RetryPolicy) -> None:
        self._ownership = ownership
        self._retry = retry

    def run(self, action: Callable[[], T], message: ConsumedMessage, assignment: int, what: str) -> T | None:
        """`action()`, or None once the message is no longer ours or the attempts ran out."""
        partition = message.origin.topic_partition
        for failures in itertools.count(1):
            if not self._ownership.owns(partition, assignment):
                return None
            try:
                return action()
            except Exception as exc:
                if self._retry.exhausted(failures):
                    log.error("%s %s failed %d times; giving up: %s", what, origin_name(message.origin), failures, exc)
                    return None
                delay = self._retry.ceiling(failures)
                log.warning(
                    "%s %s failed (%d in a row): %s; trying again in %.1f s",
                    *(what, origin_name(message.origin), failures, exc, delay),
                    exc_info=failures == 1,
                )
                self._ownership.wait_until_lost(partition, assignment, delay)
        return None  # pragma: no cover - itertools.count never ends


class OutcomeOf:
    """One message's outcome: handled once; when only recording it failed (`OutcomeNotRecorded`),
    later calls record it again instead of handling the message a second time."""

    def __init__(self, message: ConsumedMessage, handle: MessageHandler, record: RecordOutcome) -> None:
        self._message = message
        self._handle = handle
        self._record = record
        self._unrecorded: ForwardOutcome | None = None

    def __call__(self) -> ForwardOutcome:
        if self._unrecorded is not None:
            self._record(self._unrecorded)
            return self._unrecorded
        try:
            return self._handle(self._message)
        except OutcomeNotRecorded as exc:
            self._unrecorded = exc.outcome
            raise
