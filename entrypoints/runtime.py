"""Background loops that run until asked to stop, for the relay and the worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs `target(stop)` in a thread; `stop()` sets the event and waits for it to return."""

    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self.name = name
        self._stop = threading.Event()
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float) -> bool:
        """Returns whether the loop finished within `timeout_s`."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("%s did not stop within %.1f s", self._thread.name, timeout_s)
            return False
        return True

    def _run(self) -> None:
        try:
            self._target(self._stop)
        except BaseException as exc:
            self.failed = exc
            log.exception("%s stopped on an error", self._thread.name)
            raise
