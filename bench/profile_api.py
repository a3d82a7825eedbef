"""Where the API's CPU goes under load: `cruncan api` on Postgres + Kafka (Tansu), driven by
`wrk -t2 -c16`, sampled by `py-spy record --gil` (only threads holding the GIL, so the samples are
the Python work that limits throughput). Writes the collapsed stacks (`--format raw`, readable by
speedscope or flamegraph.pl) and prints the functions with the largest inclusive and self shares.

    python -m bench.profile_api --telemetry off|on|sampled [--seconds 20] [--native] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench.otlp_sink import NullOtlpSink
from bench.servers import SAMPLED, serve
from bench.stack import real_stack
from bench.wrk import Run, require_wrk, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--telemetry", choices=["off", "on", "sampled"], required=True)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    parser.add_argument("--waits", action="store_true", help="every thread, idle or not (py-spy --idle), not --gil")
    parser.add_argument("--out", type=Path, default=Path("profiles"))
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--connections", type=int, default=16, help="wrk's -c")
    args = parser.parse_args()
    require_wrk()
    py_spy = shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed: `pip install py-spy` (into this virtualenv), then run again")
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("-native" if args.native else "") + ("-waits" if args.waits else "")
    stacks = args.out / f"api-telemetry-{args.telemetry}-c{args.connections}{suffix}.txt"
    with ExitStack() as stack:
        sink = stack.enter_context(NullOtlpSink().running())
        env = {
            **stack.enter_context(real_stack()),
            "OTEL_SDK_DISABLED": "true" if args.telemetry == "off" else "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        }
        if args.telemetry == "sampled":
            env |= SAMPLED
        server = stack.enter_context(serve("profiled api", ["-m", "entrypoints.cli", "api", "--port", "0"], env))
        wrk("warm-up", f"{server.url}/one", seconds=3)
        command = [py_spy, "record", "--idle" if args.waits else "--gil", "--rate", "250", "--format", "raw"]
        command += ["--nonblocking"]
        command += ["--native"] if args.native else []
        command += ["--duration", str(args.seconds), "--output", str(stacks), "--pid", str(server.pid)]
        results: list[Run] = []
        load = threading.Thread(
            target=lambda: results.append(
                wrk("profiled", f"{server.url}/one", seconds=args.seconds, connections=args.connections)
            )
        )
        load.start()
        subprocess.run(command, check=True, capture_output=True)
        load.join()
    print(f"telemetry {args.telemetry}: {results[0].rps:.0f} req/s under py-spy, load {results[0].load_average:.1f}")
    summarize(stacks, args.top)


def summarize(stacks: Path, top: int) -> None:
    """Prints the functions with the largest inclusive and self shares of the GIL-holding samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        frames_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in frames_text.split(";")[1:]]  # the first is the thread
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    print(f"{total} samples; stacks in {stacks}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\ntop {top} by {title} share")
        for frame, count in counter.most_common(top):
            print(f"  {count / total:6.1%}  {frame}")


def _short(frame: str) -> str:
    """`func (path/to/module.py:123)` without the line and the virtualenv's prefix."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rpartition(":")[0]
    for marker in ("site-packages/", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


if __name__ == "__main__":
    main()
