"""Waitress, stopped in the order that loses no request: stop accepting, let requests in flight
finish (bounded), and only then let the caller release what they depend on."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from entrypoints.api import waitress_shim
from entrypoints.api.waitress_shim import HttpLimits

log = logging.getLogger(__name__)


class WaitressServer:
    name = "http server"

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        threads: int,
        limits: HttpLimits | None = None,
        *,
        listener: socket.socket | None = None,
    ) -> None:
        """Binds `host:port`, or serves `listener` when given (a socket bound by the supervising process
        of `http.processes`, which `stop` closes in this process only)."""
        # waitress warns on every request that waits for a thread: under load, many lines a second
        # that say only "busy"; the request duration metric says it better.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server = waitress_shim.create(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="cruncan",
            limits=limits or HttpLimits(),
            listener=listener,
        )
        self._loop = threading.Thread(target=self._serve, name="http-loop", daemon=True)
        self._drained: bool | None = None

    @property
    def host(self) -> str:
        return waitress_shim.address(self._server)[0]

    @property
    def port(self) -> int:
        return waitress_shim.address(self._server)[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._loop.start()

    @property
    def raw(self) -> waitress_shim.WaitressServer:
        """The waitress server underneath, for the shim's functions and for diagnosis."""
        return self._server

    @property
    def running(self) -> bool:
        """Whether the event loop, which accepts and reads every connection, is still turning."""
        return self._loop.is_alive()

    def _serve(self) -> None:
        try:
            waitress_shim.serve(self._server)
        except Exception:
            log.exception("the HTTP event loop stopped on an error; connections are no longer served")

    def stop(self, timeout_s: float) -> bool:
        """Stops accepting, waits up to `timeout_s` for requests in flight, then closes
        every connection. Returns whether every request in flight finished; a second call only
        repeats the answer."""
        if self._drained is not None:
            return self._drained
        if not self._loop.is_alive():
            # No loop to hand the sockets to: this thread is the only one left touching them.
            waitress_shim.close_connections(self._server)
            waitress_shim.stop_threads(self._server, timeout_s=1)
            self._drained = False
            return False
        self._in_loop(lambda: waitress_shim.stop_accepting(self._server))
        deadline = time.monotonic() + timeout_s
        while waitress_shim.has_requests_in_flight(self._server) and time.monotonic() < deadline:
            time.sleep(0.01)
        drained = not waitress_shim.has_requests_in_flight(self._server)
        if not drained:
            log.warning("shutting down with requests still in flight after %.1f s", timeout_s)
        waitress_shim.in_loop(self._server, lambda: waitress_shim.close_connections(self._server))
        self._loop.join(timeout=5)
        waitress_shim.stop_threads(self._server, timeout_s=1)
        self._drained = drained
        return drained

    def _in_loop(self, action: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()

        waitress_shim.in_loop(self._server, run)
        done.wait(timeout=5)
