"""The observability stack's files reference each other and the code consistently: the collector's
pipelines and where its exporters send, Grafana's datasources and their uids, and the dashboard, whose
metrics and labels must be ones cruncan's code records (`EMITTED`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deployment import ROOT
from tests.deployment.compose import ComposeService, compose_services, load_yaml
from tests.deployment.metrics import (
    EMITTED,
    instruments_created_in,
    labels_in,
    metrics_in,
    prometheus_name,
    prometheus_series,
)

STACK = ROOT / "observability"
OWN_INSTRUMENTS = ROOT / "adapters" / "telemetry" / "metrics.py"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
SIGNAL_STORES = {"traces": "grafana/tempo", "metrics": "prom/prometheus", "logs": "grafana/loki"}
DATASOURCE_STORES = {"prometheus": "prom/prometheus", "tempo": "grafana/tempo", "loki": "grafana/loki"}
TRANSLATION = "UnderscoreEscapingWithSuffixes"


@pytest.fixture(scope="module")
def stack() -> dict[str, ComposeService]:
    """The services of observability/docker-compose.yml, by name."""
    return compose_services(STACK / "docker-compose.yml")


def one(stack: dict[str, ComposeService], image: str) -> ComposeService:
    found = [service for service in stack.values() if service.image == image]
    assert len(found) == 1, f"the observability compose runs {len(found)} services from {image}, not one"
    return found[0]


@pytest.fixture(scope="module")
def collector(stack) -> dict[str, Any]:
    return one(stack, "otel/opentelemetry-collector-contrib").config()


def leaves(tree: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) of every scalar in a YAML or JSON document, a list item taking its list's key."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield from leaves(value, name)
    elif isinstance(tree, list):
        for item in tree:
            yield from leaves(item, key)
    else:
        yield key, tree


def endpoints(tree: Any) -> Iterator[str]:
    return (value for key, value in leaves(tree) if key == "endpoint" and isinstance(value, str))


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


def reaches(stack: dict[str, ComposeService], endpoint: str, image: str) -> None:
    host, port = address(endpoint)
    assert host in stack, f"{endpoint} names {host!r}, which the observability compose does not define"
    assert stack[host].image == image, f"{endpoint} reaches {stack[host].image}, expected {image}"
    assert port in listening_ports(stack[host]), f"{endpoint}: {host} does not listen on port {port}"


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


@pytest.mark.parametrize(("signal", "store"), SIGNAL_STORES.items())
def test_each_signal_is_exported_to_its_store(stack, collector, signal, store):
    pipeline = collector["service"]["pipelines"].get(signal)

    assert pipeline is not None, f"the collector has no {signal} pipeline"
    for exporter in pipeline["exporters"]:
        endpoint = collector["exporters"][exporter]["endpoint"]
        reaches(stack, endpoint, store)


def test_metrics_go_to_the_otlp_receiver_prometheus_enables(stack, collector):
    prometheus = one(stack, "prom/prometheus")
    exporters = collector["service"]["pipelines"]["metrics"]["exporters"]

    assert "--web.enable-otlp-receiver" in prometheus.command, "Prometheus does not enable its OTLP receiver"
    for exporter in exporters:
        assert urlsplit(collector["exporters"][exporter]["endpoint"]).path.rstrip("/") == "/api/v1/otlp"


def test_prometheus_names_metrics_the_way_the_dashboard_expects(stack):
    otlp = one(stack, "prom/prometheus").config().get("otlp", {})

    assert otlp.get("translation_strategy", TRANSLATION) == TRANSLATION


def test_logs_go_to_the_native_otlp_endpoint_of_a_loki_that_keeps_trace_ids(stack, collector):
    loki = one(stack, "grafana/loki").config()
    latest_schema = max(loki["schema_config"]["configs"], key=lambda entry: str(entry["from"]))

    for exporter in collector["service"]["pipelines"]["logs"]["exporters"]:
        assert urlsplit(collector["exporters"][exporter]["endpoint"]).path.rstrip("/") == "/otlp"
    assert loki.get("limits_config", {}).get("allow_structured_metadata", True) is True
    assert (latest_schema["store"], latest_schema["schema"]) == ("tsdb", "v13"), "structured metadata needs tsdb v13"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_cruncan_sends_otlp_over_http_to_the_collector(services, stack, name):
    cruncan = services[name].environment
    collector = one(stack, "otel/opentelemetry-collector-contrib")
    http_receiver = collector.config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    host, port = address(cruncan["OTEL_EXPORTER_OTLP_ENDPOINT"])

    assert cruncan.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "http/protobuf"
    assert host == collector.name, f"{name} sends telemetry to {host!r}, not to the collector"
    assert port == address(http_receiver)[1], f"{name} sends to port {port}; the collector's OTLP/HTTP is elsewhere"


def test_the_collector_takes_otlp_from_a_cruncan_running_on_the_host(stack):
    collector = one(stack, "otel/opentelemetry-collector-contrib")
    http_receiver = collector.config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]

    assert address(http_receiver)[1] in collector.published


@pytest.fixture(scope="module")
def grafana(stack) -> ComposeService:
    return one(stack, "grafana/grafana")


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


@pytest.mark.parametrize("kind", DATASOURCE_STORES)
def test_each_datasource_reaches_its_store(stack, datasources, kind):
    reaches(stack, of_type(datasources, kind)["url"], DATASOURCE_STORES[kind])


def test_links_between_datasources_name_provisioned_uids(datasources):
    for datasource in datasources.values():
        for uid in (value for key, value in leaves(datasource.get("jsonData", {})) if key == "datasourceUid"):
            assert uid in datasources, f"{datasource['name']} links to datasource uid {uid!r}, which is not provisioned"


def test_grafana_variables_are_escaped_from_provisioning_expansion(datasources):
    """Grafana expands ${VAR} in provisioning files from its environment; its own ${__...} must be $${__...}."""
    for datasource in datasources.values():
        for text in (value for _, value in leaves(datasource) if isinstance(value, str)):
            assert not re.search(r"(?<!\$)\$\{__", text), f"{datasource['name']}: {text!r} would be expanded to ''"


def test_a_log_line_links_to_its_trace(datasources):
    fields = of_type(datasources, "loki")["jsonData"]["derivedFields"]
    links = [field for field in fields if datasources.get(field.get("datasourceUid", ""), {}).get("type") == "tempo"]

    assert links, "no derived field of the Loki datasource links to Tempo"
    assert any(field.get("matcherType") == "label" and field["matcherRegex"] == "trace_id" for field in links), (
        "OTLP logs keep trace_id as structured metadata; a derived field must read that label"
    )


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


def test_dashboard_queries_use_labels_the_metrics_carry(dashboards, stack):
    promoted = one(stack, "prom/prometheus").config().get("otlp", {}).get("promote_resource_attributes", [])
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
