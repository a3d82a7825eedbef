"""An OTLP/HTTP receiver that accepts exports and discards them, so exporting costs a process what it
would cost against a collector, without a decoding receiver taking CPU from the process measured. It can
keep the trace exports' bytes undecoded, for `bench.spans` to read once the run is over."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNALS = ("/v1/traces", "/v1/metrics", "/v1/logs")


class NullOtlpSink:
    """Accepts OTLP/HTTP exports and throws them away, counting requests and bytes per signal,
    so that exporting costs the API what it would cost against a collector."""

    def __init__(self, *, keep_traces: bool = False) -> None:
        self.received = {path: [0, 0] for path in SIGNALS}
        self.traces: list[bytes] = []
        self._keep_traces = keep_traces
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def describe(self) -> str:
        with self._lock:
            return ", ".join(
                f"{path} {calls} requests {size / 1e6:.1f} MB" for path, (calls, size) in self.received.items()
            )

    @contextmanager
    def running(self) -> Iterator[NullOtlpSink]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    def count(self, path: str, payload: bytes, encoding: str = "") -> None:
        """Counts one export; keeps a trace export's bytes (undecoded, only decompressed) if asked to."""
        size = len(payload)
        if self._keep_traces and path == "/v1/traces":
            payload = _decompressed(payload, encoding)
        with self._lock:
            if self._keep_traces and path == "/v1/traces":
                self.traces.append(payload)
            calls_and_bytes = self.received.setdefault(path, [0, 0])
            calls_and_bytes[0] += 1
            calls_and_bytes[1] += size

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                sink.count(self.path, self.rfile.read(size), self.headers.get("Content-Encoding", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def _decompressed(payload: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(payload)
    if encoding == "deflate":
        return zlib.decompress(payload)
    return payload
