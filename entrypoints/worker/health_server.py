"""The worker's small HTTP server: `GET /healthz` (liveness) and `GET /readyz` (readiness), JSON either way,
served by waitress on its own thread."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server

from entrypoints.worker.health import Report, WorkerHealth

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}


def health_app(health: WorkerHealth) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app answering the two probes; any other path is a 404 and any other method a 405, in JSON."""
    probes: dict[str, Callable[[], Report]] = {"/healthz": health.liveness, "/readyz": health.readiness}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        probe = probes.get(path)
        body: dict[str, object]
        if probe is None:
            status, body = 404, {"error": "not_found", "detail": "this server answers GET /healthz and GET /readyz"}
        elif method not in {"GET", "HEAD"}:
            status, body = 405, {"error": "method_not_allowed", "detail": f"{path} answers GET only"}
        else:
            report = probe()
            status = 200 if report.healthy else 503
            body = {"status": "ok" if report.healthy else "failing", **report.detail}
        payload = json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        if status == 405:
            headers.append(("Allow", "GET, HEAD"))
        start_response(STATUS[status], headers)
        return [b""] if method == "HEAD" else [payload]

    return app


class HealthServer:
    """Serves `app` on `host`:`port` (0: any free port) until `stop()`; binding fails at construction."""

    name = "worker health server"

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str, port: int) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=1, ident="cruncan-worker")
        self._thread = threading.Thread(target=self._server.run, name="health-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float) -> bool:
        """Stops listening (on the server's own thread) and waits up to `timeout_s` for it; a probe still
        connected holds nothing up, the thread being a daemon."""
        self._server.trigger.pull_trigger(self._server.close)
        self._thread.join(timeout=timeout_s)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        return True
