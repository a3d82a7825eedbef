"""What cruncan needs from waitress beyond what waitress documents, in one place.

waitress documents `serve()`, `create_server()` and its adjustments. Draining gracefully (stop
accepting, wait for the requests in flight, then close every connection), deadlines for slow
clients, a body limit counted after chunked decoding, and JSON for the errors waitress answers
itself all reach into its server, connection and parser classes, and only this module does:
waitress is pinned exactly in pyproject.toml, and tests/integration/test_waitress_shim.py fails
when an upgrade changes what is used here.
"""

from __future__ import annotations

import inspect
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, TransferEncodingNotImplemented
from waitress.server import create_server
from waitress.task import ErrorTask
from waitress.utilities import (
    BadRequest,
    Error,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    ServerNotImplemented,
)

# The waitress objects are untyped; `Any` keeps their internals from spreading as types.
WaitressServer = Any
# Chunked framing counts towards waitress's own limit on the bytes read for a body; this much
# room (and as much again as the body) lets a body of exactly the limit through in any chunking
# a client would use, while the decoded size is held to the limit exactly.
CHUNKED_FRAMING_ALLOWANCE = 65_536
MAX_DETAIL_CHARS = 200
# After refusing a request, the server half-closes and reads and discards what the client still
# sends, for this long or this many times the body limit, before closing: closing with unread
# input would reset the connection, and a client still sending its body could lose the answer.
LINGER_S = 2.0
LINGER_BODIES = 4


@dataclass(frozen=True)
class HttpLimits:
    """What one client may hold of the server: connections in all, time to send a request's
    headers (from connecting, or from its first byte on a kept-alive connection) and its body,
    and the body's size after any chunked decoding."""

    connection_limit: int = 1000
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 65_536


def create(
    app: Any,
    *,
    host: str,
    port: int,
    threads: int,
    ident: str,
    limits: HttpLimits,
    listener: socket.socket | None = None,
) -> WaitressServer:
    """A waitress server bound to `host:port` (or accepting on `listener`, a socket already bound
    and listening, which other processes may share) that enforces `limits` and answers its own
    errors in JSON, not yet serving (`serve` runs its loop); raises `WaitressChanged` at once if
    this waitress lacks what the shim uses."""
    where: dict[str, Any] = {"sockets": [listener]} if listener is not None else {"host": host, "port": port}
    server = create_server(
        app,
        **where,
        threads=threads,
        ident=ident,
        connection_limit=limits.connection_limit,
        max_request_header_size=limits.max_header_bytes,
        max_request_body_size=2 * limits.max_body_bytes + CHUNKED_FRAMING_ALLOWANCE,
        # poll(), not select(): select takes no descriptor from 1024 up, and raises on one, ending the loop.
        asyncore_use_poll=True,
    )
    check_internals(server)
    server.channel_class = partial(GuardedChannel, limits=limits)
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


# What the classes below rely on in the waitress classes they extend.
CLASS_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    HTTPChannel: (
        "error_task_class", "parser_class", "request", "will_close", "close_when_flushed",
        "total_outbufs_len", "readable", "writable", "received", "service", "handle_read", "handle_close",
    ),
    HTTPRequestParser: (
        "completed", "headers_finished", "chunked", "content_length", "body_rcv", "error", "received", "parse_header",
    ),
    ErrorTask: ("execute", "set_close_on_finish", "write", "status", "content_length"),
}  # fmt: skip


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
            ("channel.requests_lock", getattr(channel, "requests_lock", None), type(threading.Lock())),
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
    problems += [
        f"{kind.__name__}.{name} is missing"
        for kind, names in CLASS_ATTRIBUTES.items()
        for name in names
        if not hasattr(kind, name)
    ]
    callables = {
        "server.trigger.pull_trigger": getattr(getattr(server, "trigger", None), "pull_trigger", None),
        "server.del_channel": getattr(server, "del_channel", None),
        "server.add_task": getattr(server, "add_task", None),
        "server.channel_class": getattr(server, "channel_class", None),
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


class RequestTimeout(Error):  # type: ignore[misc]
    code = 408
    reason = "Request Timeout"


# The status and JSON `error` for each error waitress raises itself. A transfer coding the server lacks
# (only chunked is decoded) is 501, as RFC 9112 6.1 asks; `BoundedParser` makes a request whose last coding
# is not chunked, which cannot be framed, a 400 as 6.3 requires.
ERRORS: tuple[tuple[type, int, str], ...] = (
    (RequestEntityTooLarge, 413, "body_too_large"),
    (RequestHeaderFieldsTooLarge, 431, "request_header_fields_too_large"),
    (ServerNotImplemented, 501, "unsupported_transfer_encoding"),
    (RequestTimeout, 408, "request_timeout"),
    (BadRequest, 400, "bad_request"),
)
REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}


def json_error(error: Any, max_body_bytes: int) -> tuple[str, bytes]:
    """The status line and JSON body `{"error", "detail"}` for an error waitress raised."""
    status, name = next(((code, name) for kind, code, name in ERRORS if isinstance(error, kind)), (500, ""))
    if status == 500:
        return "500 Internal Server Error", json.dumps(
            {"error": "internal_error", "detail": "the server failed to handle the request"}
        ).encode()
    detail = str(error.body)
    if status == 413:
        detail = f"the body is larger than the limit of {max_body_bytes} bytes"
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "..."
    return f"{status} {REASONS[status]}", json.dumps({"error": name, "detail": detail}).encode()


class JsonErrorTask(ErrorTask):  # type: ignore[misc]
    """Answers a request waitress refused with JSON, and closes the connection."""

    def execute(self) -> None:
        self.channel.linger_on_close = True
        status, body = json_error(self.request.error, self.channel.limits.max_body_bytes)
        self.status = status
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class BoundedParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, refusing a body over `max_body_bytes`, counted after chunked decoding:
    at the headers for a Content-Length, as soon as the decoded chunks pass it otherwise; a
    request whose last transfer coding is not chunked as malformed, not as unsupported; and one
    that names chunked twice."""

    error: Any
    completed: bool
    headers_finished: bool
    chunked: bool
    body_rcv: Any
    content_length: int

    def __init__(self, adj: Any, *, max_body_bytes: int) -> None:
        super().__init__(adj)
        self.max_body_bytes = max_body_bytes

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.error is None and self.headers_finished and self._too_large():
            self.error = RequestEntityTooLarge(f"the body is larger than {self.max_body_bytes} bytes")
            self.completed = True
            return len(data)
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except TransferEncodingNotImplemented:
            if transfer_codings(header_plus)[-1:] != [b"chunked"]:
                raise ParsingError("chunked must be the last transfer coding of a request") from None
            raise TransferEncodingNotImplemented("the server decodes no transfer coding but chunked") from None
        if transfer_codings(header_plus).count(b"chunked") > 1:
            # RFC 9112 6.1: a sender must not apply chunked more than once. waitress decodes it once,
            # and a proxy in front that decoded it twice would read another body: refused, as smuggling.
            raise ParsingError("chunked may be applied to a request only once")

    def _too_large(self) -> bool:
        if self.chunked:
            return self.body_rcv is not None and len(self.body_rcv) > self.max_body_bytes
        return bool(self.content_length > self.max_body_bytes)


def transfer_codings(header_plus: bytes) -> list[bytes]:
    """The transfer codings of a request's head (its `Transfer-Encoding` lines joined), in order, lower case."""
    lines = (line.partition(b":") for line in header_plus.split(b"\r\n")[1:])
    value = b",".join(value for name, _, value in lines if name.lower() == b"transfer-encoding")
    return [coding.strip(b" \t").lower() for coding in value.split(b",") if coding.strip(b" \t")]


class GuardedChannel(HTTPChannel):  # type: ignore[misc]
    """A connection that is dropped when its request headers, or separately its body, take longer
    than the limits allow; checked on every turn of the event loop (at least once a second).

    The header clock runs from the connection's opening, or on a kept-alive connection from the
    first byte of the next request; a dropped request that had sent its headers is answered 408.
    After answering a refusal it closes in stages (half-close, then discard input for a bounded
    while), so that the client reads the answer rather than a reset."""

    error_task_class = JsonErrorTask
    request: Any
    requests: list[Any]
    total_outbufs_len: int
    will_close: bool
    close_when_flushed: bool

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None, *, limits: HttpLimits) -> None:
        self.limits = limits
        self.parser_class = partial(BoundedParser, max_body_bytes=limits.max_body_bytes)
        self.header_clock: float | None = time.monotonic()
        self.body_clock: float | None = None
        self.linger_on_close = False
        self.lingering_until: float | None = None
        self.linger_budget = LINGER_BODIES * limits.max_body_bytes
        super().__init__(server, sock, addr, adj, map)

    def readable(self) -> bool:
        now = time.monotonic()
        if self.lingering_until is not None:
            if now < self.lingering_until and self.linger_budget > 0:
                return True
            super().handle_close()
            return False
        self.enforce_deadlines(now)
        return bool(super().readable())

    def writable(self) -> bool:
        """Asks the loop to wait for the socket to take output only when `handle_write` can send
        some, or must close.

        waitress's own `writable` says yes whenever output is buffered, even while the request
        thread that buffered it holds the buffer's lock to send it itself (`write_soon` flushes
        at once): `handle_write` then cannot take the lock and sends nothing, and since a
        writable socket makes `select` return at once, the loop spun over every connection,
        taking the GIL from the very thread it waited for. Measured at -c16: 26 empty turns
        per request; at -c64, 10 ms of CPU per request where -c16 took 1.2. A thread that
        leaves output unsent pulls the loop's trigger, and so does every finished request,
        which asks again."""
        if self.lingering_until is not None or not super().writable():
            return False
        if self.will_close or self.close_when_flushed or not self.requests:
            return True
        if not self.outbuf_lock.acquire(False):
            return False
        self.outbuf_lock.release()
        return True

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            discarded = self.socket.recv(self.adj.recv_bytes)
        except BlockingIOError:
            return
        except OSError:
            discarded = b""
        self.linger_budget -= len(discarded)
        if not discarded:
            super().handle_close()

    def handle_close(self) -> None:
        if self.socket is None:
            # Closed already: waitress's `handle_write` asks again after a send that found the
            # client gone closed the connection in the middle of it.
            return
        if not self.linger_on_close or self.lingering_until is not None:
            super().handle_close()
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            super().handle_close()
            return
        self.will_close = False
        self.lingering_until = time.monotonic() + LINGER_S

    def enforce_deadlines(self, now: float) -> None:
        if self.requests or self.total_outbufs_len or self.will_close or self.close_when_flushed:
            self.header_clock = self.body_clock = None
            return
        request = self.request
        if request is None or not request.headers_finished:
            if self.header_clock is None and request is not None:
                self.header_clock = now
            if self.header_clock is not None and now - self.header_clock > self.limits.header_timeout_s:
                self.will_close = True
            return
        if self.body_clock is None:
            self.body_clock = now
        if now - self.body_clock > self.limits.body_timeout_s:
            self.answer_timeout(request)

    def answer_timeout(self, request: Any) -> None:
        with self.requests_lock:
            request.error = RequestTimeout(f"the body did not arrive within {self.limits.body_timeout_s:g} s")
            request.completed = True
            self.requests.append(request)
            self.request = None
        self.server.add_task(self)
