"""What cruncan's code records (`EMITTED`), the Prometheus series its OTLP receiver makes of each
instrument, and the series and labels a PromQL expression uses."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: str
    unit: str
    attributes: tuple[str, ...] = ()
    library: str | None = None


# What cruncan records (OpenTelemetry instrument names). The dashboard may chart these and nothing else.
EMITTED = (
    Instrument("cruncan.ingest.handled", "counter", "{request}"),
    Instrument("cruncan.ingest.succeeded", "counter", "{request}"),
    Instrument("cruncan.ingest.failed", "counter", "{request}"),
    Instrument("cruncan.ingest.duration", "histogram", "s"),
    Instrument(
        "http.server.request.duration",
        "histogram",
        "s",
        ("http.request.method", "http.response.status_code", "http.route", "url.scheme", "network.protocol.version"),
        library="opentelemetry-instrumentation-flask",
    ),
    Instrument("cruncan.outbox.backlog", "gauge", "{message}"),
    Instrument("cruncan.outbox.publish.duration", "histogram", "s"),
    Instrument("cruncan.outbox.published", "counter", "{message}"),
    Instrument("cruncan.worker.messages.processed", "counter", "{message}", ("cruncan.outcome",)),
    Instrument("cruncan.worker.messages.retried", "counter", "{retry}"),
    Instrument("cruncan.worker.messages.dead_lettered", "counter", "{message}"),
    Instrument("cruncan.worker.forward.duration", "histogram", "s"),
    Instrument(
        "cruncan.worker.consumer.lag",
        "gauge",
        "{message}",
        ("messaging.destination.name", "messaging.destination.partition.id"),
    ),
    Instrument("cruncan.token.fetches", "counter", "{fetch}", ("cruncan.outcome",)),
)

_UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}
_CREATE_KINDS = {
    "create_counter": "counter",
    "create_observable_counter": "counter",
    "create_histogram": "histogram",
    "create_gauge": "gauge",
    "create_observable_gauge": "gauge",
    "create_up_down_counter": "gauge",
    "create_observable_up_down_counter": "gauge",
}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
_PROMQL_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def prometheus_name(name: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_:]", "_", name))


def prometheus_series(instrument: Instrument) -> set[str]:
    """The series names Prometheus's OTLP receiver stores for an instrument (UnderscoreEscapingWithSuffixes)."""
    name = prometheus_name(instrument.name)
    unit = "" if instrument.unit.startswith("{") else _UNIT_WORDS.get(instrument.unit, instrument.unit)
    if instrument.unit == "1":
        unit = "ratio" if instrument.kind == "gauge" else ""
    if unit and not name.endswith(f"_{unit}"):
        name = f"{name}_{unit}"
    if instrument.kind == "counter":
        return {f"{name}_total"}
    if instrument.kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def instruments_created_in(path: Path) -> Iterator[tuple[str, str, str]]:
    """(name, kind, unit) of every `meter.create_*("name", unit=...)` call in a module."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CREATE_KINDS:
            name = node.args[0]
            unit = next((keyword.value for keyword in node.keywords if keyword.arg == "unit"), None)
            assert isinstance(name, ast.Constant), f"{path.name}:{node.lineno} names an instrument by a variable"
            assert isinstance(unit, ast.Constant), f"{path.name}:{node.lineno} gives {name.value} no literal unit"
            yield name.value, _CREATE_KINDS[node.func.attr], unit.value


def metrics_in(expression: str) -> set[str]:
    """Series names a PromQL expression selects: every identifier that is not a function, keyword or label."""
    bare = re.sub(r'"(?:\\.|[^"\\])*"', "", expression)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = _PROMQL_GROUPING.sub("", bare)
    return set(re.findall(r"\b[A-Za-z_:][A-Za-z0-9_:]*\b(?!\s*\()", bare)) - _PROMQL_WORDS


def labels_in(expression: str) -> set[str]:
    """Labels a PromQL expression matches on or groups by."""
    unquoted = re.sub(r'"(?:\\.|[^"\\])*"', '""', expression)
    matched = {
        label for matchers in re.findall(r"\{([^}]*)\}", unquoted) for label in re.findall(r"(\w+)\s*[=!]", matchers)
    }
    grouped = {label.strip() for labels in _PROMQL_GROUPING.findall(unquoted) for label in labels.split(",")}
    return (matched | grouped) - {""}
