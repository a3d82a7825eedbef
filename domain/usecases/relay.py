from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from domain.model.errors import StoreUnavailable
from domain.model.request import RequestStatus
from domain.model.retry import Backoff
from ports.clock import Clock
from ports.outbox import OutboxSignal
from ports.publisher import Publisher
from ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

STOP_CHECK_S = 0.2


@dataclass(frozen=True)
class RelayPass:
    claimed: int
    delivered: int

    @property
    def undelivered(self) -> int:
        return self.claimed - self.delivered


class RelayOutbox:
    """One pass of the transactional outbox: claim a batch, publish it, mark what the
    broker confirmed. A crash before the commit leaves the batch pending, so it is
    published again: duplicates are possible, losses are not."""

    def __init__(self, uow: UnitOfWorkFactory, publisher: Publisher, clock: Clock, batch_size: int = 100) -> None:
        self._uow = uow
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def __call__(self) -> RelayPass:
        with self._uow() as uow:
            pending = uow.outbox.claim_pending(self._batch_size)
            if not pending:
                return RelayPass(0, 0)
            delivered = self._publisher.publish(pending)
            if delivered:
                now = self._clock.now()
                uow.outbox.mark_sent(delivered, now)
                keys = [p.message.key for p in pending if p.outbox_id in delivered]
                uow.requests.record_status(keys, RequestStatus.PUBLISHED, now)
            uow.commit()
        return RelayPass(len(pending), len(delivered))


class RelayLoop:
    """Runs relay passes until `stop` is set, then drains: it keeps passing for up to `drain_s`
    while passes find messages and publish them all, so what was accepted just before a shutdown
    leaves with this process (what is left is published by the next relay, never lost).

    After a full batch the next pass starts at once; otherwise the loop waits for the outbox
    signal (a commit) or `poll_interval_s`, whichever comes first. A pass that raised, or left
    messages unpublished, is retried after a backoff doubling from `retry_backoff_s` up to
    `max_backoff_s`; a pass that publishes everything resets it.
    """

    def __init__(
        self,
        relay: RelayOutbox,
        signal: OutboxSignal,
        poll_interval_s: float,
        retry_backoff_s: float,
        *,
        max_backoff_s: float = 30.0,
        drain_s: float = 0.0,
    ) -> None:
        self._relay = relay
        self._signal = signal
        self._poll_interval_s = poll_interval_s
        self._backoff = Backoff(retry_backoff_s, max(max_backoff_s, retry_backoff_s))
        self._drain_s = drain_s

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            outcome = self._pass()
            if outcome is None or outcome.undelivered:
                failures += 1
                delay = self.backoff(failures)
                log.warning("relay pass left messages unpublished (%d in a row); retrying in %.1f s", failures, delay)
                stop.wait(delay)
                continue
            if failures:
                log.info("relay publishing again after %d failed passes", failures)
                failures = 0
            if outcome.claimed < self._relay.batch_size:
                self._wait_for_messages(stop)
        self._drain()

    def _drain(self) -> None:
        deadline = time.monotonic() + self._drain_s
        while time.monotonic() < deadline:
            outcome = self._pass()
            if outcome is None or outcome.undelivered or not outcome.claimed:
                return

    def backoff(self, failures: int) -> float:
        """The pause after `failures` failed passes in a row."""
        return self._backoff.ceiling(failures)

    def _pass(self) -> RelayPass | None:
        try:
            return self._relay()
        except StoreUnavailable as exc:
            log.warning("relay pass failed: %s", exc)
            return None
        except Exception:
            log.exception("relay pass failed")
            return None

    def _wait_for_messages(self, stop: threading.Event) -> None:
        deadline = time.monotonic() + self._poll_interval_s
        while not stop.is_set():
            step = min(deadline - time.monotonic(), STOP_CHECK_S)
            if step <= 0:
                return
            step_ends = time.monotonic() + step
            try:
                if self._signal.wait(step):
                    return
            except StoreUnavailable as exc:
                log.warning("outbox signal failed (%s); polling every %.1f s instead", exc, self._poll_interval_s)
                stop.wait(max(deadline - time.monotonic(), 0.0))
                return
            except Exception:
                log.exception("outbox signal failed; polling every %.1f s instead", self._poll_interval_s)
                stop.wait(max(deadline - time.monotonic(), 0.0))
                return
            stop.wait(max(step_ends - time.monotonic(), 0.0))  # a closed signal answers at once: do not spin
