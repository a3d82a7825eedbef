"""Background loops that run until asked to stop, for the relay and the worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs `target(stop)` in a thread until it returns or `stop()` sets the event it was given;
    an error it raises is logged and kept in `failed`."""

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
        """Asks the loop to stop and waits up to `timeout_s`; returns whether it finished in time
        without having failed."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("%s did not stop within %.1f s", self.name, timeout_s)
            return False
        return self.failed is None

    def _run(self) -> None:
        try:
            self._target(self._stop)
        except BaseException as exc:
            self.failed = exc
            log.exception("%s stopped on an error", self.name)
