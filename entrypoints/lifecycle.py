"""Process lifecycle: wait for SIGINT or SIGTERM, then shut down in order."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)


@contextmanager
def shutdown_requested() -> Iterator[threading.Event]:
    """Yields an event set by the first SIGINT or SIGTERM; restores the old handlers on exit."""
    event = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        event.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for(event: threading.Event, still_running: Callable[[], bool] = lambda: True) -> None:
    """Blocks until `event` is set or `still_running` turns false, waking often enough
    for the main thread to run signal handlers promptly."""
    while not event.wait(0.2) and still_running():
        pass


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, timeout_s: float) -> bool:
        """Finishes work in flight within `timeout_s`; returns whether it all finished."""
        ...


def run_until_signalled(
    services: Sequence[tuple[Service, float]],
    on_started: Callable[[], None],
    still_running: Callable[[], bool] = lambda: True,
) -> bool:
    """Starts the services in order; on SIGINT/SIGTERM, or once `still_running()` turns false (a
    background loop died), stops them in reverse order, each given its own deadline to finish its
    work in flight, so a server stops accepting and drains before anything it depends on stops.
    Returns whether all finished in time and nothing died."""
    clean = True
    started: list[tuple[Service, float]] = []
    with shutdown_requested() as stop:
        try:
            for service, timeout_s in services:
                service.start()
                started.append((service, timeout_s))
            on_started()
            wait_for(stop, still_running)
            if not stop.is_set():
                log.error("a background loop stopped on its own; shutting everything down")
                clean = False
        finally:
            for service, timeout_s in reversed(started):
                log.info("stopping %s", service.name)
                clean = service.stop(timeout_s) and clean
    return clean
