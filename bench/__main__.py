"""`python -m bench [--quick]` (or `make bench`): every benchmark in turn, each printing its own figures."""

from __future__ import annotations

import subprocess
import sys

from bench.load import ROOT

BENCHMARKS = [
    ("bench.api_figures", []),
    ("bench.forwarding", []),
    ("bench.end_to_end", []),
    ("bench.ingest_memory", []),
    ("bench.postgres_uow", []),
    ("bench.wrk_unit_of_work", []),
    ("bench.idempotency_keys", []),
    ("bench.ingest_postgres", []),
    ("bench.grpc_vs_http", []),
]

# The figures issue 9 asks for come first; `--quick` shortens them (and says so in their output).
TAKE_QUICK = {"bench.api_figures", "bench.forwarding", "bench.end_to_end"}


def main() -> int:
    quick = ["--quick"] if "--quick" in sys.argv[1:] else []
    failed = []
    for module, args in BENCHMARKS:
        print(f"\n##### {module}", flush=True)
        arguments = [*args, *quick] if module in TAKE_QUICK else args
        if subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT, check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nthese benchmarks failed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
