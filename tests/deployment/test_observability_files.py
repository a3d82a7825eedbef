"""The Grafana stack's files reference each other consistently.

No Docker engine runs here, so observability/ is parsed: the collector's pipelines, where its exporters
send, the stores' own configs, Grafana's datasources and links, and the dashboard, whose metric names are
checked against `EMITTED`, the one list of what cruncan's code records.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deployment.compose import ComposeService, compose_services, load_yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "observability"
COMPOSE_FILE = STACK / "docker-compose.yml"
ROOT_COMPOSE_FILE = ROOT / "docker-compose.yml"
OWN_INSTRUMENTS = ROOT / "adapters" / "telemetry" / "metrics.py"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
SIGNAL_STORES = {"traces": "grafana/tempo", "metrics": "prom/prometheus", "logs": "grafana/loki"}
DATASOURCE_STORES = {"prometheus": "prom/prometheus", "tempo": "grafana/tempo", "loki": "grafana/loki"}
SERVICE_NAMES = ("cruncan-api", "cruncan-relay", "cruncan-worker")
TRANSLATION = "UnderscoreEscapingWithSuffixes"


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


@pytest.fixture(scope="module")
def services() -> dict[str, ComposeService]:
    return compose_services(COMPOSE_FILE)


def one(services: dict[str, ComposeService], image: str) -> ComposeService:
    found = [service for service in services.values() if service.image == image]
    assert len(found) == 1, f"the observability compose runs {len(found)} services from {image}, not one"
    return found[0]


@pytest.fixture(scope="module")
def collector(services) -> dict[str, Any]:
    return one(services, "otel/opentelemetry-collector-contrib").config()


def endpoints(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "endpoint" and isinstance(value, str):
                yield value
            else:
                yield from endpoints(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from endpoints(item)


def address(endpoint: str) -> tuple[str, int]:
    """Host and port of `host:port` or of a URL (default ports by scheme)."""
    parts = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    default = {"https": 443, "http": 80}.get(parts.scheme, 0)
    return parts.hostname or "", parts.port or default


def listening_ports(service: ComposeService) -> set[int]:
    """Ports a service of the stack listens on, read from its own configuration."""
    if service.image == "otel/opentelemetry-collector-contrib":
        return {address(endpoint)[1] for endpoint in endpoints(service.config()["receivers"])}
    if service.image == "grafana/tempo":
        config = service.config()
        return {config["server"]["http_listen_port"], *(address(e)[1] for e in endpoints(config["distributor"]))}
    if service.image == "grafana/loki":
        return {service.config()["server"]["http_listen_port"]}
    if service.image == "prom/prometheus":
        flags = dict(argument.partition("=")[::2] for argument in service.command)
        return {address(flags.get("--web.listen-address", "0.0.0.0:9090"))[1]}
    if service.image == "grafana/grafana":
        return {int(service.environment.get("GF_SERVER_HTTP_PORT", "3000"))}
    pytest.fail(f"no rule tells which ports {service.name} ({service.image}) listens on")


def reaches(services: dict[str, ComposeService], endpoint: str, image: str) -> None:
    host, port = address(endpoint)
    assert host in services, f"{endpoint} names {host!r}, which the observability compose does not define"
    assert services[host].image == image, f"{endpoint} reaches {services[host].image}, expected {image}"
    assert port in listening_ports(services[host]), f"{endpoint}: {host} does not listen on port {port}"


def test_emitted_lists_exactly_the_instruments_cruncan_creates():
    own = {(instrument.name, instrument.kind, instrument.unit) for instrument in EMITTED if not instrument.library}

    assert OWN_INSTRUMENTS.is_file(), f"cruncan's instruments are no longer created in {OWN_INSTRUMENTS}"
    assert set(instruments_created_in(OWN_INSTRUMENTS)) == own


def test_pipelines_use_only_components_the_collector_defines(collector):
    for signal, pipeline in collector["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            undefined = set(pipeline.get(kind, [])) - set(collector.get(kind) or {})
            assert not undefined, f"the {signal} pipeline uses undefined {kind} {sorted(undefined)}"
    undefined_extensions = set(collector["service"].get("extensions", [])) - set(collector.get("extensions") or {})
    assert not undefined_extensions, f"the service enables undefined extensions {sorted(undefined_extensions)}"


def test_every_component_the_collector_defines_is_used(collector):
    pipelines = collector["service"]["pipelines"].values()
    for kind in ("receivers", "processors", "exporters"):
        used = {name for pipeline in pipelines for name in pipeline.get(kind, [])}
        unused = set(collector.get(kind) or {}) - used
        assert not unused, f"{kind} {sorted(unused)} are defined but in no pipeline"


@pytest.mark.parametrize(("signal", "store"), SIGNAL_STORES.items())
def test_each_signal_is_exported_to_its_store(services, collector, signal, store):
    pipeline = collector["service"]["pipelines"].get(signal)

    assert pipeline is not None, f"the collector has no {signal} pipeline"
    for exporter in pipeline["exporters"]:
        endpoint = collector["exporters"][exporter]["endpoint"]
        reaches(services, endpoint, store)


@pytest.mark.parametrize("signal", ["metrics", "logs"])
def test_metrics_and_logs_travel_over_otlp_http(collector, signal):
    for exporter in collector["service"]["pipelines"][signal]["exporters"]:
        kind = exporter.partition("/")[0]
        assert kind in {"otlp_http", "otlphttp"}, f"{signal} go through {kind}; the stores accept OTLP over HTTP"


def test_metrics_go_to_the_otlp_receiver_prometheus_enables(services, collector):
    prometheus = one(services, "prom/prometheus")
    exporters = collector["service"]["pipelines"]["metrics"]["exporters"]

    assert "--web.enable-otlp-receiver" in prometheus.command, "Prometheus does not enable its OTLP receiver"
    for exporter in exporters:
        assert urlsplit(collector["exporters"][exporter]["endpoint"]).path.rstrip("/") == "/api/v1/otlp"


def test_prometheus_names_metrics_the_way_the_dashboard_expects(services):
    otlp = one(services, "prom/prometheus").config().get("otlp", {})

    assert otlp.get("translation_strategy", TRANSLATION) == TRANSLATION


def test_logs_go_to_the_native_otlp_endpoint_of_a_loki_that_keeps_trace_ids(services, collector):
    loki = one(services, "grafana/loki").config()
    latest_schema = max(loki["schema_config"]["configs"], key=lambda entry: str(entry["from"]))

    for exporter in collector["service"]["pipelines"]["logs"]["exporters"]:
        assert urlsplit(collector["exporters"][exporter]["endpoint"]).path.rstrip("/") == "/otlp"
    assert loki.get("limits_config", {}).get("allow_structured_metadata", True) is True
    assert (latest_schema["store"], latest_schema["schema"]) == ("tsdb", "v13"), "structured metadata needs tsdb v13"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_cruncan_sends_otlp_over_http_to_the_collector(services, name):
    cruncan = compose_services(ROOT_COMPOSE_FILE)[name].environment
    collector = one(services, "otel/opentelemetry-collector-contrib")
    http_receiver = collector.config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    host, port = address(cruncan["OTEL_EXPORTER_OTLP_ENDPOINT"])

    assert cruncan.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "http/protobuf"
    assert host == collector.name, f"{name} sends telemetry to {host!r}, not to the collector"
    assert port == address(http_receiver)[1], f"{name} sends to port {port}; the collector's OTLP/HTTP is elsewhere"


def test_the_collector_takes_otlp_from_a_cruncan_running_on_the_host(services):
    collector = one(services, "otel/opentelemetry-collector-contrib")
    http_receiver = collector.config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]

    assert address(http_receiver)[1] in collector.published


@pytest.fixture(scope="module")
def grafana(services) -> ComposeService:
    return one(services, "grafana/grafana")


@pytest.fixture(scope="module")
def datasources(grafana) -> dict[str, dict[str, Any]]:
    folder = grafana.host_path(f"{GRAFANA_PROVISIONING}/datasources")
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.y*ml")):
        for datasource in load_yaml(path).get("datasources", []):
            uid = datasource.get("uid")
            assert uid, f"datasource {datasource.get('name')} in {path.name} has no fixed uid"
            assert uid not in found, f"datasource uid {uid} is provisioned twice"
            found[uid] = datasource
    assert found, f"no datasource is provisioned in {folder}"
    return found


def of_type(datasources: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [datasource for datasource in datasources.values() if datasource["type"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} datasources are provisioned, not one"
    return found[0]


def uid_references(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "datasourceUid":
                yield value
            else:
                yield from uid_references(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from uid_references(item)


def strings(tree: Any) -> Iterator[str]:
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from strings(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from strings(item)


@pytest.mark.parametrize("kind", DATASOURCE_STORES)
def test_each_datasource_reaches_its_store(services, datasources, kind):
    reaches(services, of_type(datasources, kind)["url"], DATASOURCE_STORES[kind])


def test_links_between_datasources_name_provisioned_uids(datasources):
    for datasource in datasources.values():
        for uid in uid_references(datasource.get("jsonData", {})):
            assert uid in datasources, f"{datasource['name']} links to datasource uid {uid!r}, which is not provisioned"


def test_grafana_variables_are_escaped_from_provisioning_expansion(datasources):
    """Grafana expands ${VAR} in provisioning files from its environment; its own ${__...} must be $${__...}."""
    for datasource in datasources.values():
        for text in strings(datasource):
            assert not re.search(r"(?<!\$)\$\{__", text), f"{datasource['name']}: {text!r} would be expanded to ''"


def test_a_span_links_to_the_logs_of_its_trace(datasources):
    link = of_type(datasources, "tempo")["jsonData"]["tracesToLogsV2"]

    assert datasources[link["datasourceUid"]]["type"] == "loki"
    if link.get("customQuery"):
        assert re.search(r'\btrace_id\s*=\s*"\$\$\{__(?:trace|span)\.traceId\}"', link["query"])
    else:
        assert link.get("filterByTraceID") is True


def test_a_log_line_links_to_its_trace(datasources):
    fields = of_type(datasources, "loki")["jsonData"]["derivedFields"]
    links = [field for field in fields if datasources.get(field.get("datasourceUid", ""), {}).get("type") == "tempo"]

    assert links, "no derived field of the Loki datasource links to Tempo"
    assert any(field.get("matcherType") == "label" and field["matcherRegex"] == "trace_id" for field in links), (
        "OTLP logs keep trace_id as structured metadata; a derived field must read that label"
    )


def test_an_exemplar_links_to_its_trace(datasources):
    destinations = of_type(datasources, "prometheus")["jsonData"].get("exemplarTraceIdDestinations", [])

    assert any(datasources[d["datasourceUid"]]["type"] == "tempo" and d["name"] == "trace_id" for d in destinations)


@pytest.fixture(scope="module")
def dashboards(grafana) -> list[dict[str, Any]]:
    folder = grafana.host_path(f"{GRAFANA_PROVISIONING}/dashboards")
    found = []
    for provisioning in sorted(folder.glob("*.y*ml")):
        for provider in load_yaml(provisioning).get("providers", []):
            source = grafana.host_path(provider["options"]["path"])
            assert source.is_dir(), f"dashboard provider {provider['name']} reads {source}, which does not exist"
            found.extend(json.loads(path.read_text()) for path in sorted(source.glob("*.json")))
    assert found, "no provisioned dashboard"
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboards: list[dict[str, Any]], kind: str) -> Iterator[tuple[str, str]]:
    """(panel title, query) for every target of the given datasource type."""
    for dashboard in dashboards:
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                datasource = target.get("datasource") or panel.get("datasource") or {}
                if datasource.get("type") == kind:
                    yield panel["title"], target["expr"]


def test_dashboard_panels_query_provisioned_datasources_of_their_type(dashboards, datasources):
    for dashboard in dashboards:
        for panel in panels(dashboard):
            for reference in [panel.get("datasource"), *(t.get("datasource") for t in panel.get("targets", []))]:
                if reference is None:
                    continue
                provisioned = datasources.get(reference["uid"])
                assert provisioned, f"panel {panel['title']!r} queries datasource uid {reference['uid']!r}"
                assert provisioned["type"] == reference["type"], f"panel {panel['title']!r}: uid and type disagree"


def test_every_metric_on_the_dashboard_is_one_cruncan_emits(dashboards):
    emitted = set().union(*(prometheus_series(instrument) for instrument in EMITTED))
    for title, expression in queries(dashboards, "prometheus"):
        unknown = metrics_in(expression) - emitted
        assert not unknown, f"panel {title!r} charts {sorted(unknown)}, which cruncan does not emit"


@pytest.mark.parametrize("instrument", EMITTED, ids=lambda instrument: instrument.name)
def test_every_emitted_metric_is_on_the_dashboard(dashboards, instrument):
    charted = set().union(*(metrics_in(expression) for _, expression in queries(dashboards, "prometheus")))

    assert prometheus_series(instrument) & charted, f"no panel charts {instrument.name}"


def test_dashboard_queries_use_labels_the_metrics_carry(dashboards, services):
    promoted = one(services, "prom/prometheus").config().get("otlp", {}).get("promote_resource_attributes", [])
    common = {"job", "instance", *(prometheus_name(attribute) for attribute in promoted)}
    carried = {
        series: {prometheus_name(attribute) for attribute in instrument.attributes}
        | ({"le"} if series.endswith("_bucket") else set())
        for instrument in EMITTED
        for series in prometheus_series(instrument)
    }
    for title, expression in queries(dashboards, "prometheus"):
        for metric in metrics_in(expression):
            unknown = labels_in(expression) - common - carried[metric]
            assert not unknown, f"panel {title!r} uses labels {sorted(unknown)}, which {metric} does not carry"


@pytest.mark.parametrize("service_name", SERVICE_NAMES)
def test_the_logs_panel_shows_every_cruncan_process(dashboards, service_name):
    selectors = [
        matcher
        for _, expression in queries(dashboards, "loki")
        for matcher in re.findall(r'service_name\s*=~?\s*"([^"]*)"', expression)
    ]

    assert selectors, "no logs panel selects cruncan's service_name"
    assert any(re.fullmatch(selector, service_name) for selector in selectors)
