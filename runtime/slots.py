"""Bounded concurrency for the consume loop: slots counting messages in flight, and worker threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class Slots:
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


class Workers:
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
