"""A TCP forwarder the test can cut, to take a server away from a process without stopping it for everyone."""

from __future__ import annotations

import contextlib
import socket
import threading

CHUNK = 65536


class TcpProxy:
    """Forwards each connection to a local port on to `target`, one thread per direction.

    `cut()` closes every live connection and refuses new ones, as a server that went down would;
    `restore()` accepts again on the same port. Use as a context manager, or `start()` and `cut()`.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._live: set[socket.socket] = set()
        self.port = 0

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cut()

    @property
    def accepting(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Listens on a free local port (the first time) or on the same port again."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self._listener = listener
            self._acceptor = threading.Thread(target=self._accept, args=(listener,), name="tcp-proxy", daemon=True)
            self._acceptor.start()

    def cut(self) -> None:
        """Stops listening and closes every forwarded connection at both ends."""
        with self._lock:
            listener, self._listener = self._listener, None
            acceptor, self._acceptor = self._acceptor, None
            live, self._live = self._live, set()
        if listener is not None:
            _close(listener)
        for connection in live:
            _close(connection)
        if acceptor is not None:
            acceptor.join(timeout=5)

    def restore(self) -> None:
        """Accepts connections again, on the same port."""
        self.start()

    def connections(self) -> int:
        """How many forwarded connections are open (two sockets each)."""
        with self._lock:
            return len(self._live) // 2

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(upstream)
                    return
                self._live |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(CHUNK):
                sink.sendall(data)
        with self._lock:
            self._live -= {source, sink}
        _close(source)
        _close(sink)


def _close(connection: socket.socket) -> None:
    """Shuts both directions first, which also wakes a thread blocked in `recv` or `accept` on it."""
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
