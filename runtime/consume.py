from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping, Sequence

from domain.model.errors import CommitFailed, SourceUnavailable
from domain.model.outcomes import DeadLetter
from domain.model.retry import RetryPolicy
from ports.messages import (
    ConsumedMessage,
    DeadLetterQueue,
    MessageHandler,
    MessageSource,
    PartitionListener,
    TopicPartition,
)
from runtime.dead_letters import dead_letter_message
from runtime.naming import origin_name, partition_name, partition_names, position_names
from runtime.offsets import OffsetTracker
from runtime.ownership import Ownership
from runtime.persistence import OutcomeOf, Persistence, RecordOutcome
from runtime.slots import Slots, Workers

log = logging.getLogger(__name__)

DEFAULT_RETRY = RetryPolicy(base_s=0.5, max_s=30.0, attempts=0)


class ConsumeLoop(PartitionListener):
    """Consumes the source with at most `concurrency` messages in flight, at least once.

    Each message is handled once on a worker thread. An outcome the handler could not record
    (`OutcomeNotRecorded`) is recorded again with `record`, and a `DeadLetter` is published to
    the dead-letter queue; each of these is tried again after `retry`'s backoff (until it
    succeeds when `retry.attempts` is 0) while the partition stays assigned, keeping its slot,
    so a failing store slows consumption down instead of skipping. The handler is only run again
    if it raised anything else. Only once that is done does the message count as finished.
    Positions are committed every `commit_interval_s`, on revocation and on stop, and only over
    finished messages (`OffsetTracker`), so a crash repeats messages, never loses one.

    When partitions are revoked, what finished is committed and what is in flight is dropped for
    the partition's next owner to read again; lost partitions commit nothing. When every slot is
    busy the source is polled for nothing, which keeps this member in its group. `run` stops
    fetching when `stop` is set, lets in-flight messages finish for up to `drain_timeout_s`,
    commits, and closes the source; what is still in flight then is read again by the next owner.
    """

    def __init__(
        self,
        source: MessageSource,
        handle: MessageHandler,
        dead_letters: DeadLetterQueue,
        *,
        record: RecordOutcome,
        concurrency: int,
        drain_timeout_s: float,
        commit_interval_s: float = 1.0,
        poll_timeout_s: float = 0.5,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"consuming needs at least one message in flight, got concurrency {concurrency}")
        self._source = source
        self._handle = handle
        self._record = record
        self._dead_letters = dead_letters
        self._concurrency = concurrency
        self._drain_timeout_s = drain_timeout_s
        self._commit_interval_s = commit_interval_s
        self._poll_timeout_s = poll_timeout_s
        self._retry = retry
        self._tracker = OffsetTracker()
        self._slots = Slots(concurrency)
        self._ownership = Ownership()
        self._persistence = Persistence(self._ownership, retry)
        self._last_commit = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        try:
            if self._subscribe(stop):
                self._consume(stop)
        finally:
            self._source.close()

    @property
    def in_flight(self) -> int:
        return self._slots.busy

    def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        self._ownership.assign(partitions)
        log.info("assigned %s", partition_names(partitions))

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self._ownership.disown(partitions)
        finished = self._tracker.revoke(partitions)
        committed = self._commit_positions(finished) if finished else False
        said = position_names(finished) if committed else "nothing"
        log.info("revoked %s; committed %s", partition_names(partitions), said)

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._ownership.disown(partitions)
        self._tracker.revoke(partitions)
        log.warning(
            "lost %s; their messages in flight will be read again by their new owner", partition_names(partitions)
        )

    def _subscribe(self, stop: threading.Event) -> bool:
        for failures in itertools.count(1):
            try:
                self._source.subscribe(self)
            except SourceUnavailable as exc:
                delay = self._retry.ceiling(failures)
                log.warning("cannot subscribe (%s); trying again in %.1f s", exc, delay)
                if stop.wait(delay):
                    return False
            else:
                return True
        return False  # pragma: no cover - itertools.count never ends

    def _consume(self, stop: threading.Event) -> None:
        workers = Workers(self._concurrency)
        try:
            while not stop.is_set():
                free = self._slots.wait_for_free(self._poll_timeout_s)
                for message in self._source.poll(free, self._poll_timeout_s if free else 0.0):
                    self._start(message, workers)
                self._commit(due_only=True)
            self._drain()
        finally:
            self._ownership.abandon()
            workers.stop()

    def _start(self, message: ConsumedMessage, workers: Workers) -> None:
        origin = message.origin
        try:
            self._tracker.start(origin)
        except ValueError:
            log.warning(
                "%s rewound to offset %d; tracking it afresh", partition_name(origin.topic_partition), origin.offset
            )
            self._tracker.revoke([origin.topic_partition])
            self._tracker.start(origin)
        assignment = self._ownership.current(origin.topic_partition)
        self._slots.take()
        workers.submit(lambda: self._process(message, assignment))

    def _process(self, message: ConsumedMessage, assignment: int) -> None:
        try:
            outcome = self._persistence.run(
                OutcomeOf(message, self._handle, self._record), message, assignment, "handling"
            )
            if outcome is None:
                return
            if isinstance(outcome, DeadLetter):
                letter = dead_letter_message(message, outcome)

                def publish() -> bool:
                    self._dead_letters.publish(letter)
                    return True

                if self._persistence.run(publish, message, assignment, "dead-lettering") is None:
                    return
            self._tracker.finish(message.origin)
        except Exception:
            log.exception("unexpected error processing %s; it stays uncommitted", origin_name(message.origin))
        finally:
            self._slots.release()

    def _drain(self) -> None:
        deadline = time.monotonic() + self._drain_timeout_s
        log.info(
            "stopped fetching; waiting up to %.1f s for %d messages in flight", self._drain_timeout_s, self.in_flight
        )
        while self._slots.busy and (left := deadline - time.monotonic()) > 0:
            self._slots.wait_until_idle(min(left, self._poll_timeout_s))
            self._source.poll(0, 0.0)
            self._commit(due_only=True)
        if self._slots.busy:
            log.warning(
                "%d messages still in flight after %.1f s; they will be read again",
                self.in_flight,
                self._drain_timeout_s,
            )
        self._commit(due_only=False)

    def _commit(self, *, due_only: bool) -> None:
        if due_only and time.monotonic() - self._last_commit < self._commit_interval_s:
            return
        self._last_commit = time.monotonic()
        positions = self._tracker.committable()
        if positions:
            self._commit_positions(positions)

    def _commit_positions(self, positions: Mapping[TopicPartition, int]) -> bool:
        try:
            self._source.commit(positions)
        except CommitFailed as exc:
            log.warning("commit of %s failed: %s", position_names(positions), exc)
            return False
        self._tracker.committed(positions)
        log.debug("committed %s", position_names(positions))
        return True
