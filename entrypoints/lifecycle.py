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

    @property
    def running(self) -> bool:
        """Whether it still does its work once started: false when the thread that does it has ended."""
        ...

    def stop(self, timeout_s: float) -> bool:
        """Finishes work in flight within `timeout_s`; returns whether it all finished."""
        ...


def stopped_on_their_own(services: Sequence[tuple[Service, float]]) -> list[str]:
    return [service.name for service, _ in services if not service.running]


def run_until_signalled(
    services: Sequence[tuple[Service, float]],
    on_started: Callable[[], None],
    still_running: Callable[[], bool] = lambda: True,
) -> bool:
    """Starts the services in order; on SIGINT/SIGTERM, once a started service stops running on its
    own (its thread died), or once `still_running()` turns false (a process this one depends on
    ended), stops them in reverse order, each given its own deadline to finish its work in flight,
    so a server stops accepting and drains before anything it depends on stops. Returns whether all
    finished in time and nothing died: a process whose event loop died exits instead of holding
    its port open unanswered."""
    clean = True
    started: list[tuple[Service, float]] = []
    with shutdown_requested() as stop:
        try:
            for service, timeout_s in services:
                service.start()
                started.append((service, timeout_s))
            on_started()
            wait_for(stop, lambda: still_running() and not stopped_on_their_own(started))
            if not stop.is_set():
                ended = ", ".join(stopped_on_their_own(started)) or "the supervising process"
                log.error("%s stopped on its own; shutting everything down", ended)
                clean = False
        finally:
            for service, timeout_s in reversed(started):
                log.info("stopping %s", service.name)
                clean = service.stop(timeout_s) and clean
    return clean
