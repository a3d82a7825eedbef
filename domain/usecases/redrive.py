from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from domain.model.lock import LockState
from domain.model.message import OutboxMessage, RequestMessage
from domain.model.redrive import REDRIVE_HEADER, RedriveSelection
from domain.model.request import StoredRequest
from ports.clock import Clock
from ports.job_lock import JobLock
from ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Redriven:
    """What one run re-drove: how many requests, in how many batches; `busy` if another holder had the lock."""

    requests: int
    batches: int
    busy: bool = False


class RedriveFailed:
    """Sends failed requests again, a batch per unit of work: each one `selection` matches and still
    failed goes back to `accepted` with its re-drive counted, and gets one outbox message, so the relay
    and the worker forward it again. Exactly once however many run: a request is claimed by one unit
    of work and moved only if still failed. The lock spares other runs the scan; lost, it costs work."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        lock: JobLock,
        *,
        batch_size: int = 100,
        before_commit: Callable[[list[StoredRequest]], None] = lambda _: None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"a re-drive batch holds at least one request, got {batch_size}")
        self._uow = uow
        self._clock = clock
        self._lock = lock
        self._batch_size = batch_size
        self._before_commit = before_commit

    def preview(self, selection: RedriveSelection, limit: int | None) -> list[StoredRequest]:
        """The requests a run would re-drive now, changing nothing."""
        with self._uow() as uow:
            return uow.requests.failed(selection, self._batch_size if limit is None else limit)

    def __call__(
        self, selection: RedriveSelection, limit: int | None, progress: Callable[[int, int], None] = lambda _, __: None
    ) -> Redriven:
        """Re-drives up to `limit` requests (None: all); `progress(batch, total)` follows each batch."""
        state = self._lock.acquire()
        if state is LockState.BUSY:
            return Redriven(0, 0, busy=True)
        if state is LockState.UNREACHABLE:
            log.warning("the job lock is unreachable: re-driving without it (Postgres still fences each request)")
        total = batches = 0
        try:
            while limit is None or total < limit:
                wanted = self._batch_size if limit is None else min(self._batch_size, limit - total)
                moved = self._batch(selection, wanted)
                if not moved:
                    break
                total, batches = total + moved, batches + 1
                progress(moved, total)
                if self._lock.renew() is not LockState.HELD and state is LockState.HELD:
                    state = LockState.UNREACHABLE
                    log.warning("lost the job lock mid-run: going on, as Postgres fences each request")
        finally:
            self._lock.release()
        return Redriven(total, batches)

    def _batch(self, selection: RedriveSelection, limit: int) -> int:
        with self._uow() as uow:
            now = self._clock.now()
            moved = uow.requests.redrive(selection, limit, now)
            for request in moved:
                uow.outbox.add(
                    OutboxMessage(
                        key=request.request_id,
                        payload=RequestMessage(request.request_id, request.body).encode(),
                        created_at=now,
                        headers={REDRIVE_HEADER: str(request.redrive_count)},
                    )
                )
            self._before_commit(moved)
            uow.commit()
        return len(moved)
