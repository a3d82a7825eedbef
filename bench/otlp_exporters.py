"""What exporting a span costs the process, OTLP over HTTP/protobuf against gRPC: spans like `POST /one`'s
database calls (7 attributes) go through a `BatchSpanProcessor` to the harness's OTLP receiver, which runs
in a process of its own so that decoding is not counted. Prints the process's CPU per span, from the first
span made to the last exported (the processor's thread encodes them to protobuf in Python either way).

    python -m bench.otlp_exporters [--spans 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

from adapters.telemetry.setup import service_resource
from bench.load import ROOT

ATTRIBUTES = {
    "db.system.name": "postgresql",
    "db.namespace": "cruncan",
    "server.address": "127.0.0.1",
    "server.port": 5432,
    "db.operation.name": "INSERT",
    "db.collection.name": "request",
    "cruncan.request.id": "00264905529753600064",
}
RECEIVER = "from harness.otlp import OtlpReceiver; import time; r = OtlpReceiver().start(); "
RECEIVER += "print(r.endpoint, r.grpc_endpoint, flush=True); time.sleep(3600)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        http_endpoint, grpc_endpoint = receiver.stdout.readline().split()
        exporters: dict[str, Callable[[], SpanExporter]] = {
            "http/protobuf": lambda: HttpSpanExporter(endpoint=f"{http_endpoint}/v1/traces"),
            "grpc": lambda: GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True),
        }
        results: dict[str, list[float]] = {name: [] for name in exporters}
        for _ in range(args.rounds):
            for name, exporter in exporters.items():
                results[name].append(measure(exporter(), args.spans))
    finally:
        receiver.kill()
    print(f"CPU per span, medians of {args.rounds} rounds of {args.spans} spans")
    for name, runs in results.items():
        print(f"  {name:<14} {statistics.median(runs):5.1f} us  (rounds: {', '.join(f'{run:.1f}' for run in runs)})")


def measure(exporter: SpanExporter, spans: int) -> float:
    provider = TracerProvider(resource=service_resource("cruncan-bench", "0", "bench"), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=spans + 1))
    tracer = provider.get_tracer("cruncan")
    started = time.process_time()
    for _ in range(spans):
        tracer.start_span("RequestRepository.add", kind=SpanKind.CLIENT, attributes=ATTRIBUTES).end()
    provider.force_flush()
    spent = time.process_time() - started
    provider.shutdown()
    return spent * 1e6 / spans


if __name__ == "__main__":
    main()
