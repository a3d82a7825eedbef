from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeVar

from domain.model.offsets import OffsetTracker, Origin, TopicPartition
from domain.model.retry import Backoff
from domain.usecases.forward import DeadLetter, ForwardOutcome
from ports.messages import (
    CommitFailed,
    ConsumedMessage,
    DeadLetterMessage,
    DeadLetterQueue,
    MessageSource,
    PartitionListener,
    SourceUnavailable,
)

log = logging.getLogger(__name__)

MessageHandler = Callable[[ConsumedMessage], ForwardOutcome]

DLQ_PREFIX: Final = "cruncan.dlq."
DLQ_REASON: Final = DLQ_PREFIX + "reason"
DLQ_CAUSE: Final = DLQ_PREFIX + "cause"
DLQ_TOPIC: Final = DLQ_PREFIX + "topic"
DLQ_PARTITION: Final = DLQ_PREFIX + "partition"
DLQ_OFFSET: Final = DLQ_PREFIX + "offset"
DLQ_ATTEMPTS: Final = DLQ_PREFIX + "attempts"

T = TypeVar("T")


def forwarding(forward: Callable[[bytes | None, Origin], ForwardOutcome]) -> MessageHandler:
    """Hands each consumed message's value and origin to the forwarding use case."""

    def handle(message: ConsumedMessage) -> ForwardOutcome:
        return forward(message.value, message.origin)

    return handle


def dead_letter_message(message: ConsumedMessage, letter: DeadLetter) -> DeadLetterMessage:
    """The original key, value and headers, with `cruncan.dlq.*` headers saying why, where from and
    after how many attempts (replacing those of an earlier dead-lettering)."""
    kept = tuple((name, value) for name, value in message.headers if not name.startswith(DLQ_PREFIX))
    why = {
        DLQ_REASON: letter.reason,
        DLQ_CAUSE: letter.cause.value,
        DLQ_TOPIC: letter.origin.topic,
        DLQ_PARTITION: str(letter.origin.partition),
        DLQ_OFFSET: str(letter.origin.offset),
        DLQ_ATTEMPTS: str(letter.attempts),
    }
    return DeadLetterMessage(message.key, message.value, kept + tuple((n, v.encode()) for n, v in why.items()))


class ConsumeLoop(PartitionListener):
    """Consumes the source with at most `concurrency` messages in flight, at least once.

    Each message is handled on a worker thread; a `DeadLetter` outcome is published to the
    dead-letter queue, and only once that is acknowledged does the message count as finished.
    Positions are committed every `commit_interval_s`, on revocation and on stop, and only
    ever over finished messages (`OffsetTracker`), so a crash repeats messages, never loses one.

    A message whose handling raises (its outcome could not be recorded: the store is down) or
    whose dead letter is not acknowledged is tried again in place, after a backoff doubling from
    `retry_backoff_s` to `max_backoff_s`, for as long as its partition stays assigned. It keeps
    its slot meanwhile, so a failing dependency slows consumption down instead of skipping.

    When partitions are revoked, what finished is committed and what is in flight is dropped:
    it will not be committed here, and the partition's next owner reads it again. Lost
    partitions commit nothing. When every slot is busy the source is polled for nothing, which
    keeps this member in its group without taking more messages.

    `run` stops fetching when `stop` is set, lets in-flight messages finish for up to
    `drain_timeout_s`, commits, and closes the source (leaving the group). Messages still in
    flight then are abandoned uncommitted: the next owner of their partitions reads them again.
    """

    def __init__(
        self,
        source: MessageSource,
        handle: MessageHandler,
        dead_letters: DeadLetterQueue,
        *,
        concurrency: int,
        drain_timeout_s: float,
        commit_interval_s: float = 1.0,
        poll_timeout_s: float = 0.5,
        retry_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"consuming needs at least one message in flight, got concurrency {concurrency}")
        self._source = source
        self._handle = handle
        self._dead_letters = dead_letters
        self._concurrency = concurrency
        self._drain_timeout_s = drain_timeout_s
        self._commit_interval_s = commit_interval_s
        self._poll_timeout_s = poll_timeout_s
        self._backoff = Backoff(retry_backoff_s, max(max_backoff_s, retry_backoff_s))
        self._tracker = OffsetTracker()
        self._slots = _Slots(concurrency)
        self._ownership = threading.Condition()
        self._assignments: dict[TopicPartition, int] = {}
        self._assignment_ids = itertools.count(1)
        self._abandoned = False
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
        with self._ownership:
            for partition in partitions:
                self._assignments[partition] = next(self._assignment_ids)
        log.info("assigned %s", _names(partitions))

    def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self._disown(partitions)
        finished = self._tracker.revoke(partitions)
        committed = self._commit_positions(finished) if finished else False
        log.info("revoked %s; committed %s", _names(partitions), _positions(finished) if committed else "nothing")

    def lost(self, partitions: Sequence[TopicPartition]) -> None:
        self._disown(partitions)
        self._tracker.revoke(partitions)
        log.warning("lost %s; their messages in flight will be read again by their new owner", _names(partitions))

    def _subscribe(self, stop: threading.Event) -> bool:
        for failures in itertools.count(1):
            try:
                self._source.subscribe(self)
            except SourceUnavailable as exc:
                delay = self._backoff.ceiling(failures)
                log.warning("cannot subscribe (%s); trying again in %.1f s", exc, delay)
                if stop.wait(delay):
                    return False
            else:
                return True
        return False  # pragma: no cover - itertools.count never ends

    def _consume(self, stop: threading.Event) -> None:
        workers = _Workers(self._concurrency)
        try:
            while not stop.is_set():
                free = self._slots.wait_for_free(self._poll_timeout_s)
                for message in self._source.poll(free, self._poll_timeout_s if free else 0.0):
                    self._start(message, workers)
                self._commit(due_only=True)
            self._drain()
        finally:
            self._abandon()
            workers.stop()

    def _start(self, message: ConsumedMessage, workers: _Workers) -> None:
        origin = message.origin
        try:
            self._tracker.start(origin)
        except ValueError:
            log.warning("%s rewound to offset %d; tracking it afresh", _name(origin.topic_partition), origin.offset)
            self._tracker.revoke([origin.topic_partition])
            self._tracker.start(origin)
        with self._ownership:
            assignment = self._assignments.get(origin.topic_partition, 0)
        self._slots.take()
        workers.submit(lambda: self._process(message, assignment))

    def _process(self, message: ConsumedMessage, assignment: int) -> None:
        try:
            outcome = self._persistently(lambda: self._handle(message), message, assignment, "handling")
            if outcome is None:
                return
            if isinstance(outcome, DeadLetter):
                letter = dead_letter_message(message, outcome)

                def publish() -> bool:
                    self._dead_letters.publish(letter)
                    return True

                if self._persistently(publish, message, assignment, "dead-lettering") is None:
                    return
            self._tracker.finish(message.origin)
        except Exception:
            log.exception("unexpected error processing %s; it stays uncommitted", _origin(message.origin))
        finally:
            self._slots.release()

    def _persistently(self, action: Callable[[], T], message: ConsumedMessage, assignment: int, what: str) -> T | None:
        """`action()`, tried again after each failure until it succeeds, or None once the message is no longer ours."""
        for failures in itertools.count(1):
            if not self._owns(message.origin.topic_partition, assignment):
                return None
            try:
                return action()
            except Exception as exc:
                delay = self._backoff.ceiling(failures)
                log.warning(
                    "%s %s failed (%d in a row): %s; trying again in %.1f s",
                    what,
                    _origin(message.origin),
                    failures,
                    exc,
                    delay,
                    exc_info=failures == 1,
                )
                with self._ownership:
                    self._ownership.wait_for(lambda: not self._owns(message.origin.topic_partition, assignment), delay)
        return None  # pragma: no cover - itertools.count never ends

    def _owns(self, partition: TopicPartition, assignment: int) -> bool:
        with self._ownership:
            return not self._abandoned and self._assignments.get(partition, 0) == assignment

    def _disown(self, partitions: Sequence[TopicPartition]) -> None:
        with self._ownership:
            for partition in partitions:
                self._assignments.pop(partition, None)
            self._ownership.notify_all()

    def _abandon(self) -> None:
        with self._ownership:
            self._abandoned = True
            self._ownership.notify_all()

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
            log.warning("commit of %s failed: %s", _positions(positions), exc)
            return False
        self._tracker.committed(positions)
        log.debug("committed %s", _positions(positions))
        return True


class _Slots:
    """Counts messages in flight, at most `size`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._busy = 0
        self._changed = threading.Condition()

    @property
    def busy(self) -> int:
        with self._changed:
            return self._busy

    def wait_for_free(self, timeout_s: float) -> int:
        """How many slots are free, waiting up to `timeout_s` for one if none is."""
        with self._changed:
            self._changed.wait_for(lambda: self._busy < self._size, timeout_s)
            return self._size - self._busy

    def wait_until_idle(self, timeout_s: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._busy == 0, timeout_s)

    def take(self) -> None:
        with self._changed:
            if self._busy >= self._size:
                raise RuntimeError(f"all {self._size} slots are busy: the source returned more than it was asked for")
            self._busy += 1

    def release(self) -> None:
        with self._changed:
            self._busy -= 1
            self._changed.notify_all()


class _Workers:
    """`size` daemon threads running submitted calls: a call stuck past the drain deadline does not
    keep the process alive (a `ThreadPoolExecutor` joins its threads at exit)."""

    def __init__(self, size: int) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"consume-{n}", daemon=True) for n in range(1, size + 1)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)

    def stop(self) -> None:
        for _ in self._threads:
            self._calls.put(None)

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            call()


def _name(partition: TopicPartition) -> str:
    return f"{partition.topic}[{partition.partition}]"


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(_name(partition) for partition in sorted(partitions)) or "no partitions"


def _origin(origin: Origin) -> str:
    return f"{origin.topic}[{origin.partition}]@{origin.offset}"


def _positions(positions: Mapping[TopicPartition, int]) -> str:
    return ", ".join(f"{_name(partition)}@{position}" for partition, position in sorted(positions.items()))
