from __future__ import annotations

import logging
import threading
import time

from domain.model.errors import StoreUnavailable
from domain.model.retry import RetryPolicy
from domain.usecases.relay import RelayOutbox, RelayPass
from ports.outbox import OutboxSignal

log = logging.getLogger(__name__)

STOP_CHECK_S = 0.2
DEFAULT_RETRY = RetryPolicy(base_s=1.0, max_s=30.0, attempts=0)


class RelayLoop:
    """Runs relay passes until `stop` is set, then drains: it keeps passing for up to `drain_s`
    while passes find messages and publish them all, so what was accepted just before a shutdown
    leaves with this process (what is left is published by the next relay, never lost).

    After a full batch the next pass starts at once; otherwise the loop waits for the outbox
    signal (a commit) or `poll_interval_s`, whichever comes first. A pass that raised, or left
    messages unpublished, is retried after `retry`'s backoff; a pass that publishes everything
    resets it. Passes never stop while the loop runs (`retry.attempts` must be 0).
    """

    def __init__(
        self,
        relay: RelayOutbox,
        signal: OutboxSignal,
        poll_interval_s: float,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        drain_s: float = 0.0,
    ) -> None:
        if retry.attempts:
            raise ValueError(f"the relay retries until the broker is back: attempts must be 0, got {retry.attempts}")
        self._relay = relay
        self._signal = signal
        self._poll_interval_s = poll_interval_s
        self._retry = retry
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
        return self._retry.ceiling(failures)

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
