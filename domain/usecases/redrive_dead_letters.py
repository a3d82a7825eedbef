from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from domain.model.dead_letters import DLQ_PREFIX, LettersRedriven
from domain.model.lock import LockState
from domain.model.message import OutboxMessage, RequestMessage, UndecodableMessage
from domain.model.redrive import REDRIVE_HEADER, RedriveSelection
from ports.clock import Clock
from ports.dead_letter_reader import DeadLetterReader
from ports.job_lock import JobLock
from ports.messages import ConsumedMessage, DeadLetterMessage, DeadLetterQueue
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedLetter:
    """A dead letter as a dry run shows it: where it sits, and its request if that can be read."""

    letter: ConsumedMessage
    request_id: str | None


class RedriveDeadLetters:
    """Re-drives the dead letters queued when the run starts, each once however often runs repeat: a
    letter whose request is still failed goes back through the outbox, fenced by that request's re-drive;
    a poison letter (no readable request ID) is published again as it came. The letter's position is
    recorded in the same unit of work, and committed on the dead-letter topic only after that commits."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        letters: Callable[[], DeadLetterReader],
        requests_topic: DeadLetterQueue,
        lock: JobLock,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._letters = letters
        self._requests_topic = requests_topic
        self._lock = lock

    def preview(self, limit: int | None) -> list[QueuedLetter]:
        """The letters a run would take now, committing nothing."""
        reader = self._letters()
        try:
            found: list[QueuedLetter] = []
            for letter in reader.read():
                if limit is not None and len(found) >= limit:
                    break
                found.append(QueuedLetter(letter, _request_id(letter)))
            return found
        finally:
            reader.close()

    def __call__(
        self, limit: int | None, progress: Callable[[LettersRedriven], None] = lambda _: None
    ) -> LettersRedriven:
        state = self._lock.acquire()
        if state is LockState.BUSY:
            return LettersRedriven(busy=True)
        if state is LockState.UNREACHABLE:
            log.warning("the job lock is unreachable: re-driving dead letters without it (positions are fenced)")
        counts: Counter[str] = Counter()
        reader = self._letters()
        try:
            for letter in reader.read():
                if limit is not None and counts.total() >= limit:
                    break
                with self._uow() as uow:
                    outcome = self._redrive(uow, letter)
                    uow.commit()
                reader.commit(letter.origin)
                counts[outcome] += 1
                progress(_tally(counts))
        finally:
            reader.close()
            self._lock.release()
        return _tally(counts)

    def _redrive(self, uow: UnitOfWork, letter: ConsumedMessage) -> str:
        now = self._clock.now()
        request_id = _request_id(letter)
        if not uow.redriven_letters.claim(letter.origin, request_id, now):
            return "seen_before"
        headers = tuple((name, value) for name, value in letter.headers if not name.startswith(DLQ_PREFIX))
        if request_id is None:
            self._requests_topic.publish(DeadLetterMessage(letter.key, letter.value, headers))
            return "poison"
        moved = uow.requests.redrive(RedriveSelection(request_ids=frozenset({request_id})), 1, now)
        if not moved:
            return "not_failed"
        text_headers = {name: (value or b"").decode(errors="replace") for name, value in headers}
        uow.outbox.add(
            OutboxMessage(
                key=request_id,
                payload=letter.value or b"",
                created_at=now,
                headers={**text_headers, REDRIVE_HEADER: str(moved[0].redrive_count)},
            )
        )
        return "requests"


def _tally(counts: Counter[str]) -> LettersRedriven:
    return LettersRedriven(
        requests=counts["requests"],
        poison=counts["poison"],
        seen_before=counts["seen_before"],
        not_failed=counts["not_failed"],
    )


def _request_id(letter: ConsumedMessage) -> str | None:
    try:
        return RequestMessage.decode(letter.value).request_id
    except UndecodableMessage:
        return None
