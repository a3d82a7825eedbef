"""docker-compose.yml agrees with the code it runs: its commands with the CLI, its variables with the
settings, its addresses and ports with the servers it names, its dependencies with each other."""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
from dependency_injector import providers

from adapters.http import third_party_client, token_client
from entrypoints.cli import build_parser
from entrypoints.settings import DEFAULTS, ENV_PREFIX, SettingsError, load_settings, setting
from tests.deployment import ROOT
from tests.deployment.compose import ComposeService
from tests.deployment.dockerfile import final_stage

CRUNCAN_SERVICES = ("migrate", "api", "worker", "redrive", "cleanup")
KAFKA_CLIENTS = {
    "api": "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS",
    "worker": "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS",
    "kafka-ui": "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
POSTGRES_PORT = 5432
WIREMOCK_MAPPINGS_DIR = "/home/wiremock/mappings"
ROLE_OF_APP = ("cruncan_app", "CRUNCAN_APP_PASSWORD")


def cruncan_settings(service: ComposeService, monkeypatch: pytest.MonkeyPatch) -> providers.Configuration:
    """The settings a cruncan process in `service` starts with."""
    for name, value in service.environment.items():
        monkeypatch.setenv(name, value)
    return load_settings(environ=service.environment)


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` → name → (host, port)."""
    return {
        name: host_and_port(address)
        for name, _, address in (item.strip().partition("://") for item in value.split(","))
    }


def host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def test_every_dependency_names_a_service_with_a_known_condition(services):
    for service in services.values():
        for target, condition in service.dependencies.items():
            assert target in services, f"{service.name} depends on {target!r}, which no compose file defines"
            assert condition in CONDITIONS, f"{service.name} waits for {target} with unknown condition {condition!r}"


def test_a_service_waited_on_until_healthy_has_a_health_check(services):
    built_with_health_check = any(
        instruction.keyword == "HEALTHCHECK" and not instruction.arguments.upper().startswith("NONE")
        for instruction in final_stage()
    )
    for service in services.values():
        for target, condition in service.dependencies.items():
            if condition != "service_healthy":
                continue
            check = services[target].spec.get("healthcheck") or {}
            assert not check.get("disable"), f"{service.name} waits for {target} to be healthy; its check is off"
            inherited = services[target].spec.get("build") is not None and built_with_health_check
            assert check.get("test") or inherited, f"{service.name} waits for {target} to be healthy; it has no check"


def test_a_service_waited_on_until_it_completes_runs_once(services):
    for service in services.values():
        for target, condition in service.dependencies.items():
            if condition == "service_completed_successfully":
                restart = services[target].spec.get("restart", "no")
                assert restart == "no", f"{service.name} waits for {target} to finish, but it restarts ({restart})"


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_each_cruncan_command_is_a_subcommand_of_the_cli(services, name):
    command = services[name].command

    try:
        build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"service {name} runs `cruncan {shlex.join(command)}`, which the cruncan CLI rejects")


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_cruncan_variables_name_existing_settings(services, name):
    defaults = load_settings(environ={})
    shipped = DEFAULTS.read_text()

    for variable in services[name].environment:
        if not variable.startswith(ENV_PREFIX):
            continue
        if "__" not in variable:
            assert "${" + variable + ":" in shipped, f"{name}: {variable} is read by no ${{...}} in settings.yaml"
            continue
        key = variable[len(ENV_PREFIX) :].lower().replace("__", ".")
        try:
            value = setting(defaults, key)
        except SettingsError:
            pytest.fail(f"{name}: {variable} names the setting {key}, which settings.yaml does not have")
        assert not isinstance(value, dict), f"{name}: {variable} names the section {key}, not a setting"


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_cruncan_services_start_with_their_environment(services, name, monkeypatch):
    try:
        cruncan_settings(services[name], monkeypatch)
    except SettingsError as exc:
        pytest.fail(f"cruncan in service {name} would stop at start-up: {exc}")


def test_the_api_listens_on_all_interfaces_on_the_published_port(services, monkeypatch):
    api = cruncan_settings(services["api"], monkeypatch)

    assert api.http.host() == "0.0.0.0", "inside a container the API must listen on every interface"
    assert api.http.port() in services["api"].published, f"the api service does not publish port {api.http.port()}"


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_the_database_url_names_the_postgres_service_and_its_database(services, name, monkeypatch):
    dsn = urlsplit(cruncan_settings(services[name], monkeypatch).storage.postgres.dsn())
    postgres = services.get(dsn.hostname or "")

    assert postgres is not None, f"{name}'s DSN names host {dsn.hostname!r}, which is not a service"
    server = postgres.environment
    assert dsn.scheme in {"postgresql", "postgres"}
    assert (dsn.port or POSTGRES_PORT) == POSTGRES_PORT
    assert dsn.path.lstrip("/") == server["POSTGRES_DB"]
    role, password_variable = ("cruncan_owner", "CRUNCAN_OWNER_PASSWORD") if name == "migrate" else ROLE_OF_APP
    assert dsn.username == role, f"{name} connects as {dsn.username}, not {role} (least privilege)"
    assert dsn.password == server.get(password_variable)


def test_the_postgres_service_creates_the_roles_with_the_shipped_script(services):
    postgres = services["postgres"]
    script = postgres.host_path("/cruncan/roles.sql")
    init = [target for target in postgres.mounts if target.startswith("/docker-entrypoint-initdb.d/")]

    assert script == (ROOT / "deploy" / "sql" / "roles.sql").resolve()
    assert len(init) == 1, "the postgres service mounts no init script"
    text = postgres.host_path(init[0]).read_text()
    assert "-f /cruncan/roles.sql" in text
    assert all(f'="${variable}"' in text for variable in ("CRUNCAN_OWNER_PASSWORD", "CRUNCAN_APP_PASSWORD"))


@pytest.mark.parametrize("name", KAFKA_CLIENTS)
def test_kafka_clients_bootstrap_from_a_listener_the_broker_advertises(services, name):
    broker = services["kafka"].environment
    advertised = listeners(broker["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(broker["KAFKA_LISTENERS"])

    for address in services[name].environment[KAFKA_CLIENTS[name]].split(","):
        host, port = host_and_port(address.strip())
        matching = [listener for listener, advertisement in advertised.items() if advertisement == (host, port)]
        assert matching, f"{name} bootstraps from {address}, which kafka does not advertise ({advertised})"
        assert bound[matching[0]][1] == port, f"kafka advertises {address} but listens on another port"
        assert host in {"kafka", services["kafka"].spec.get("hostname")}, f"{name} reaches kafka as {host!r}"


def test_a_cruncan_on_the_host_finds_the_servers_where_the_shipped_settings_look(services):
    shipped = load_settings(environ={})
    host, port = host_and_port(shipped.messaging.kafka.bootstrap_servers())
    advertised = listeners(services["kafka"].environment["KAFKA_ADVERTISED_LISTENERS"]).values()
    dsn = urlsplit(shipped.storage.postgres.dsn())

    assert (host, port) in advertised, f"kafka advertises no listener at {host}:{port}, the shipped bootstrap server"
    assert services["kafka"].published.get(port) == (host, port)
    assert services["postgres"].published.get(POSTGRES_PORT) == (dsn.hostname, dsn.port)


@pytest.mark.parametrize("key", ["token.url", "third_party.url"])
def test_the_worker_reaches_wiremock_for_the_token_and_third_party_apis(services, key, monkeypatch):
    url = urlsplit(setting(cruncan_settings(services["worker"], monkeypatch), key))
    command = services["wiremock"].command
    port = int(command[command.index("--port") + 1]) if "--port" in command else 8080

    assert url.hostname == "wiremock", f"the worker's {key} points at {url.hostname!r}, not the wiremock service"
    assert url.port == port, f"the worker's {key} uses port {url.port}; wiremock listens on {port}"
    assert url.path in {"", "/"}


def first_mapping_for(services: dict[str, ComposeService], path: str) -> dict[str, Any]:
    """The highest-priority WireMock mapping for POST `path`, from the folder mounted into the service."""
    folder = services["wiremock"].mounts.get(WIREMOCK_MAPPINGS_DIR)
    assert folder is not None, f"nothing is mounted at {WIREMOCK_MAPPINGS_DIR} in the wiremock service"
    assert folder.is_dir(), f"the wiremock mappings folder {folder} does not exist"
    documents = [json.loads(file.read_text()) for file in sorted(folder.glob("*.json"))]
    found = [
        mapping
        for document in documents
        for mapping in document.get("mappings", [document])
        if mapping["request"].get("urlPath") == path and mapping["request"].get("method") == "POST"
    ]
    assert found, f"no wiremock mapping answers POST {path}"
    return min(found, key=lambda mapping: mapping.get("priority", 5))


def test_wiremock_issues_a_token_for_the_worker_credentials_and_accepts_it(services, monkeypatch):
    token = cruncan_settings(services["worker"], monkeypatch).token
    grant = first_mapping_for(services, token_client.ENDPOINT)
    accepted = first_mapping_for(services, third_party_client.ENDPOINT)
    body = " ".join(pattern.get("contains", "") for pattern in grant["request"].get("bodyPatterns", []))
    issued = grant["response"]["jsonBody"]

    assert grant["request"]["basicAuthCredentials"] == {
        "username": token.client_id(),
        "password": token.client_secret(),
    }
    assert "grant_type=client_credentials" in body
    assert f"scope={token.scope()}" in body
    assert grant["response"]["status"] == 200
    assert accepted["request"]["headers"]["Authorization"] == {
        "equalTo": f"{issued['token_type']} {issued['access_token']}"
    }
    assert 200 <= accepted["response"]["status"] < 300
