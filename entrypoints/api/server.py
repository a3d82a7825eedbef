"""Waitress, with the shutdown order the original got wrong: stop accepting, let requests
in flight finish (bounded), and only then let the caller release what they depend on."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)


class WaitressServer:
    name = "http server"

    def __init__(self, app: Any, host: str, port: int, threads: int) -> None:
        # waitress warns on every request that waits for a thread: under load, many lines a second
        # that say only "busy"; the request duration metric says it better.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server: Any = create_server(app, host=host, port=port, threads=threads, ident="cruncan")
        self._loop = threading.Thread(target=self._server.run, name="http-loop", daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._loop.start()

    def stop(self, timeout_s: float) -> bool:
        """Stops accepting, waits up to `timeout_s` for requests in flight, then closes
        every connection. Returns whether every request in flight finished."""
        self._in_loop(self._stop_accepting)
        deadline = time.monotonic() + timeout_s
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.01)
        drained = not self._busy()
        if not drained:
            log.warning("shutting down with requests still in flight after %.1f s", timeout_s)
        self._server.trigger.pull_trigger(self._close_everything)
        self._loop.join(timeout=5)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        return drained

    def _in_loop(self, action: Any) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()

        self._server.trigger.pull_trigger(run)
        done.wait(timeout=5)

    def _stop_accepting(self) -> None:
        server = self._server
        server.accepting = False
        server.del_channel()
        server.socket.close()

    def _busy(self) -> bool:
        channels = list(self._server.active_channels.values())
        return any(c.requests or c.request is not None or c.total_outbufs_len for c in channels) or bool(
            self._server.task_dispatcher.queue
        )

    def _close_everything(self) -> None:
        for channel in list(self._server._map.values()):
            channel.close()
