"""A closed-loop gRPC Submit load client, run in a process of its own so its CPU is not the server's:
prints one JSON line of figures, its own CPU seconds included."""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time

import grpc

from entrypoints.grpc.gen import one_pb2, one_pb2_grpc

SUBMIT = one_pb2.SubmitRequest(user_id="bench-user", prompt="hello", data=[one_pb2.DataItem(key="k", value="v")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    channel = grpc.insecure_channel(args.target)
    stub = one_pb2_grpc.OneServiceStub(channel)
    for _ in range(50):
        stub.Submit(SUBMIT, timeout=10)
    latencies: list[list[float]] = [[] for _ in range(args.concurrency)]
    errors = [0] * args.concurrency
    stop_at = time.perf_counter() + args.seconds

    def client(index: int) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                stub.Submit(SUBMIT, timeout=10)
            except grpc.RpcError:
                errors[index] += 1
            latencies[index].append((time.perf_counter() - started) * 1000)

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    every = sorted(value for bucket in latencies for value in bucket)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    print(
        json.dumps(
            {"requests": len(every), "errors": sum(errors), "seconds": elapsed, "latencies_ms": every, "cpu_s": cpu}
        )
    )
    channel.close()


if __name__ == "__main__":
    main()
