"""Which of a profile's GIL samples are telemetry work, and where they start: reads the raw stacks
`bench.profile_api` (or `bench.telemetry_path --py-spy`) writes and groups the samples whose innermost
frames are OpenTelemetry's or `adapters/telemetry`'s code by the outermost such frame (the instrumentation
or decorator that called in), and the export threads' by signal and step.

A heuristic on py-spy's short paths: a sample counts when its innermost frame, once standard-library
frames are skipped, belongs to an OpenTelemetry package; the time psycopg2's cursor wrapper spends in
the wrapped C call is database work, not telemetry, and is left out.

    python -m bench.telemetry_shares profiles/api-telemetry-on.txt [--top 25] [--detail]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

TELEMETRY = re.compile(
    r"^(_decorator\.py|_logs/|_semconv\.py|_shared_internal/|adapters/telemetry/|attributes/|baggage/|common/"
    r"|composite\.py|context/|dbapi/|flask/__init__\.py|http/_log_exporter|http/trace_exporter|http/metric_exporter"
    r"|logging/handler\.py|metrics/_internal|propagate/|resources/|trace/|textmap\.py|transport/|util/__init__\.py"
    r"|util/instrumentation\.py|utils\.py|wsgi/__init__\.py|psycopg2/__init__\.py|protobuf/)"
)
STANDARD = re.compile(
    r"^(<|contextlib|threading|typing|abc|enum|re/|random|os|copy|dataclasses|inspect|__|functools|weakref|queue"
    r"|collections|time|logging/__init__|urllib/|http/client|requests/|urllib3/|socket|email/|json/|selectors|ssl)"
)
WRAPPED_CALL = {"CursorTracer.traced_execution", "_new_cursor_factory.<locals>.TracedCursorFactory.execute"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--detail", action="store_true", help="also name the innermost telemetry frame")
    args = parser.parse_args()
    total, shares = classify(args.stacks, detail=args.detail)
    work = sum(shares.values())
    print(f"{total} samples; telemetry work {work} = {work / max(total, 1):.1%}")
    for where, count in shares.most_common(args.top):
        print(f"  {count / total:6.1%}  {where}")


def classify(stacks: Path, *, detail: bool = False) -> tuple[int, Counter[str]]:
    total, shares = 0, Counter[str]()
    for line in stacks.read_text().splitlines():
        text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = text.split(";")[1:]  # the first is the thread
        where = _telemetry_entry(frames, detail=detail)
        if where is not None:
            shares[where] += count
    return total, shares


def _telemetry_entry(frames: list[str], *, detail: bool) -> str | None:
    if not frames:
        return None
    joined = ";".join(frames)
    if "BatchProcessor" in joined:
        signal = "traces" if "trace_exporter" in joined else "logs" if "_log_exporter" in joined else "queue"
        step = "encode" if "encode_" in joined else "post" if "requests/" in joined or "transport/" in joined else ""
        return f"export thread: {signal} {step}".rstrip()
    if "PeriodicExportingMetricReader" in joined:
        return "metric reader thread"
    inner = len(frames) - 1
    if _name(frames[inner]) in WRAPPED_CALL:
        return None
    while inner > 0 and STANDARD.match(_path(frames[inner])) and not TELEMETRY.match(_path(frames[inner])):
        inner -= 1
    if not TELEMETRY.match(_path(frames[inner])):
        return None
    outer = inner
    while outer > 0 and (TELEMETRY.match(_path(frames[outer - 1])) or STANDARD.match(_path(frames[outer - 1]))):
        outer -= 1
    while not TELEMETRY.match(_path(frames[outer])):
        outer += 1
    return f"{_name(frames[outer])} > {_name(frames[inner])}" if detail else _name(frames[outer])


def _path(frame: str) -> str:
    match = re.search(r"\(([^:]+):\d+\)$", frame)
    return match.group(1) if match else frame


def _name(frame: str) -> str:
    return frame.split(" (", maxsplit=1)[0]


if __name__ == "__main__":
    main()
