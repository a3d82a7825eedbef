"""What cruncan needs from waitress beyond what waitress documents, in one place.

waitress documents `serve()`, `create_server()` and its adjustments. Draining gracefully (stop
accepting, wait for the requests in flight, then close every connection) reads the server's
internals, and only this module does: waitress is pinned exactly in pyproject.toml, and
tests/integration/test_waitress_shim.py fails when an upgrade changes what is read here.
"""

from __future__ import annotations

import inspect
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

from waitress.server import create_server

# The waitress objects are untyped; `Any` keeps their internals from spreading as types.
WaitressServer = Any


def create(app: Any, *, host: str, port: int, threads: int, ident: str) -> WaitressServer:
    """A waitress server bound to `host:port`, not yet serving (`serve` runs its loop); raises
    `WaitressChanged` at once if this waitress lacks what the shim reads."""
    server = create_server(app, host=host, port=port, threads=threads, ident=ident)
    check_internals(server)
    return server


def address(server: WaitressServer) -> tuple[str, int]:
    """The host and port the server listens on (the port chosen when 0 was asked for)."""
    return str(server.effective_host), int(server.effective_port)


def serve(server: WaitressServer) -> None:
    """Runs the server's event loop until its last socket closes."""
    server.run()


def in_loop(server: WaitressServer, action: Callable[[], None]) -> None:
    """Schedules `action` on the event loop's thread, the only one that may touch its sockets."""
    server.trigger.pull_trigger(action)


def stop_accepting(server: WaitressServer) -> None:
    """Closes the listening socket; connections already open stay. Call on the loop's thread."""
    server.accepting = False
    server.del_channel()
    server.socket.close()


def has_requests_in_flight(server: WaitressServer) -> bool:
    """Whether any connection has a request being received, queued, handled or answered."""
    channels = list(server.active_channels.values())
    busy = any(c.requests or c.request is not None or c.total_outbufs_len for c in channels)
    return busy or bool(server.task_dispatcher.queue)


def close_connections(server: WaitressServer) -> None:
    """Closes every socket the loop watches, which ends the loop. Call on the loop's thread."""
    for channel in list(server._map.values()):
        channel.close()


def stop_threads(server: WaitressServer, timeout_s: float) -> None:
    """Stops the request threads, cancelling queued requests, waiting up to `timeout_s`."""
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout_s)


class WaitressChanged(RuntimeError):
    """The installed waitress lacks an internal this module reads: review the shim before upgrading."""


def check_internals(server: WaitressServer) -> None:
    """Raises `WaitressChanged` naming every internal read here that is missing or of another type,
    on `server` and on each connection it has open."""
    expected: list[tuple[str, object, type | tuple[type, ...]]] = [
        ("server.effective_host", getattr(server, "effective_host", None), str),
        ("server.effective_port", getattr(server, "effective_port", None), str),
        ("server.accepting", getattr(server, "accepting", None), bool),
        ("server.socket", getattr(server, "socket", None), socket.socket),
        ("server.active_channels", getattr(server, "active_channels", None), dict),
        ("server._map", getattr(server, "_map", None), dict),
        ("server.task_dispatcher.queue", getattr(getattr(server, "task_dispatcher", None), "queue", None), deque),
    ]
    for channel in list(getattr(server, "active_channels", {}).values()):
        expected += [
            ("channel.requests", getattr(channel, "requests", None), list),
            ("channel.total_outbufs_len", getattr(channel, "total_outbufs_len", None), int),
        ]
    problems = [
        f"{name} is {type(value).__name__}, not {_names(kind)}"
        for name, value, kind in expected
        if not isinstance(value, kind)
    ]
    problems += [
        "channel.request is missing"
        for channel in list(getattr(server, "active_channels", {}).values())
        if not hasattr(channel, "request")
    ]
    callables = {
        "server.trigger.pull_trigger": getattr(getattr(server, "trigger", None), "pull_trigger", None),
        "server.del_channel": getattr(server, "del_channel", None),
        "server.run": getattr(server, "run", None),
    }
    problems += [f"{name} is not callable" for name, value in callables.items() if not callable(value)]
    shutdown = getattr(getattr(server, "task_dispatcher", None), "shutdown", None)
    if not callable(shutdown) or not {"cancel_pending", "timeout"} <= set(inspect.signature(shutdown).parameters):
        problems.append("server.task_dispatcher.shutdown(cancel_pending, timeout) has changed")
    if problems:
        raise WaitressChanged("waitress internals changed: " + "; ".join(problems))


def _names(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
