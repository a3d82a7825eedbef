"""Ingest throughput (POST /one on real Postgres + Kafka, the relay embedded) with telemetry on, exporting
traces, metrics and logs over OTLP/HTTP to a sink that discards them, against telemetry off
(`OTEL_SDK_DISABLED=true`), in one run, settings taken in turn, with their ratio; and on again with
only a share of the traces sampled, as a busy deployment would run it."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.load import Figures, cruncan, drive, report
from bench.stack import real_stack

SIGNALS = ("/v1/traces", "/v1/metrics", "/v1/logs")


class NullOtlpSink:
    """Accepts OTLP/HTTP exports and throws them away, counting requests and bytes per signal,
    so that exporting costs the API what it would cost against a collector."""

    def __init__(self) -> None:
        self.received = {path: [0, 0] for path in SIGNALS}
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

    def count(self, path: str, size: int) -> None:
        with self._lock:
            calls_and_bytes = self.received.setdefault(path, [0, 0])
            calls_and_bytes[0] += 1
            calls_and_bytes[1] += size

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(size)
                sink.count(self.path, size)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every setting in turn, to even out drift")
    parser.add_argument("--ratio", type=float, default=0.1, help="the sampled setting's trace ratio")
    args = parser.parse_args()
    with real_stack() as stack, NullOtlpSink().running() as sink:
        exporting = {**stack, "OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
        settings = {
            "telemetry off": {**stack, "OTEL_SDK_DISABLED": "true"},
            "telemetry on": exporting,
            f"on, {args.ratio:.0%} of traces": {
                **exporting,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": str(args.ratio),
            },
        }
        runs: dict[str, list[Figures]] = {label: [] for label in settings}
        for round_ in range(1, args.rounds + 1):
            for label, env in settings.items():
                with cruncan("api", env=env) as url:
                    runs[label].append(drive(f"{label}, round {round_}", f"{url}/one", args.concurrency, args.seconds))
        exported = sink.describe()
    off, on, sampled = (_rps(rows) for rows in runs.values())
    report(
        f"ingest on Postgres + Kafka, telemetry off and on, {args.concurrency} clients, {args.seconds:.0f} s each",
        [row for rows in zip(*runs.values(), strict=True) for row in rows],
        lambda: [
            f"all rounds: off {off:.0f} req/s, on {on:.0f} req/s, on sampling {args.ratio:.0%} {sampled:.0f} req/s",
            f"ratio on / off: {on / off:.2f} (throughput; overhead {1 - on / off:.0%})",
            f"ratio on sampling {args.ratio:.0%} / off: {sampled / off:.2f} (overhead {1 - sampled / off:.0%})",
            f"exported to the sink: {exported}",
        ],
    )


def _rps(rows: list[Figures]) -> float:
    return sum(row.requests for row in rows) / sum(row.seconds for row in rows)


if __name__ == "__main__":
    main()
