"""The Docker files agree with the code they run.

No Docker engine runs here, so docker-compose.yml, the Dockerfile and .dockerignore are parsed and
checked against what they depend on: the settings (through the project's own loader), the CLI,
pyproject.toml, and each other.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dependency_injector import providers

from adapters.http import third_party_client, token_client
from entrypoints.cli import build_parser
from entrypoints.settings import DEFAULTS, ENV_PREFIX, SettingsError, load_settings, setting
from tests.deployment.compose import ComposeService, compose_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

STACK = ("postgres", "kafka", "migrate", "api", "worker", "wiremock", "kafka-ui")
CRUNCAN_SERVICES = ("migrate", "api", "worker")
KAFKA_CLIENTS = {
    "api": "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS",
    "worker": "CRUNCAN_MESSAGING__KAFKA__BOOTSTRAP_SERVERS",
    "kafka-ui": "KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
POSTGRES_PORT = 5432
WIREMOCK_MAPPINGS_DIR = "/home/wiremock/mappings"


def cruncan_settings(service: ComposeService, monkeypatch: pytest.MonkeyPatch) -> providers.Configuration:
    """The settings a cruncan process in `service` starts with."""
    for name, value in service.environment.items():
        monkeypatch.setenv(name, value)
    return load_settings(environ=service.environment)


@pytest.fixture(scope="module")
def services() -> dict[str, ComposeService]:
    return compose_services(COMPOSE_FILE)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def exec_form(self) -> list[str]:
        return json.loads(self.arguments) if self.arguments.startswith("[") else shlex.split(self.arguments)


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, continuation lines joined, one list per FROM."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        keyword, _, arguments = (pending + text).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def build_args() -> dict[str, str]:
    args = {}
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("ARG ") and "=" in line:
            name, _, default = line[4:].strip().partition("=")
            args[name] = default
    return args


def final_stage() -> list[Instruction]:
    return dockerfile_stages()[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"the final stage of the Dockerfile has {len(found)} {keyword} instructions, not one"
    return found[0]


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` → name → (host, port)."""
    found = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def host_and_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def test_the_compose_file_runs_the_whole_stack(services):
    missing = [name for name in STACK if name not in services]

    assert not missing, f"docker-compose.yml lacks the services {missing}"


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
def test_cruncan_services_run_the_image_built_from_this_repository(services, name):
    spec = services[name].spec
    context = spec["build"] if isinstance(spec["build"], str) else spec["build"].get("context", ".")

    assert (services[name].directory / context).resolve() == ROOT
    assert spec["image"] == services["api"].spec["image"]


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


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_cruncan_services_store_in_postgres(services, name, monkeypatch):
    assert cruncan_settings(services[name], monkeypatch).storage.backend() == "postgres"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_the_api_and_the_worker_message_through_kafka(services, name, monkeypatch):
    assert cruncan_settings(services[name], monkeypatch).messaging.backend() == "kafka"


def test_the_worker_has_a_client_secret_for_the_token_api(services, monkeypatch):
    worker = cruncan_settings(services["worker"], monkeypatch)

    assert worker.token.client_secret(), "the worker's token.client_secret is empty"


def test_the_api_listens_on_all_interfaces_on_the_published_port(services, monkeypatch):
    api = cruncan_settings(services["api"], monkeypatch)
    exposed = [
        int(port)
        for instruction in final_stage()
        if instruction.keyword == "EXPOSE"
        for port in instruction.arguments.split()
    ]

    assert api.http.host() == "0.0.0.0", "inside a container the API must listen on every interface"
    assert api.http.port() in services["api"].published, f"the api service does not publish port {api.http.port()}"
    assert api.http.port() in exposed, f"the Dockerfile does not EXPOSE the API port {api.http.port()}"


@pytest.mark.parametrize("name", CRUNCAN_SERVICES)
def test_the_database_url_names_the_postgres_service_and_its_database(services, name, monkeypatch):
    dsn = urlsplit(cruncan_settings(services[name], monkeypatch).storage.postgres.dsn())
    postgres = services.get(dsn.hostname or "")

    assert postgres is not None, f"{name}'s DSN names host {dsn.hostname!r}, which is not a service"
    server = postgres.environment
    assert dsn.scheme in {"postgresql", "postgres"}
    assert (dsn.port or POSTGRES_PORT) == POSTGRES_PORT
    assert dsn.path.lstrip("/") == server["POSTGRES_DB"]
    assert dsn.username == server.get("POSTGRES_USER", "postgres")
    assert dsn.password == server.get("POSTGRES_PASSWORD")


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
    wiremock = services["wiremock"]
    command = wiremock.command
    port = int(command[command.index("--port") + 1]) if "--port" in command else 8080

    assert url.hostname == "wiremock", f"the worker's {key} points at {url.hostname!r}, not the wiremock service"
    assert url.port == port, f"the worker's {key} uses port {url.port}; wiremock listens on {port}"
    assert url.path in {"", "/"}


def wiremock_mappings(services: dict[str, ComposeService]) -> list[dict[str, Any]]:
    folder = services["wiremock"].mounts.get(WIREMOCK_MAPPINGS_DIR)
    assert folder is not None, f"nothing is mounted at {WIREMOCK_MAPPINGS_DIR} in the wiremock service"
    assert folder.is_dir(), f"the wiremock mappings folder {folder} does not exist"
    mappings = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text())
        mappings.extend(document.get("mappings", [document]))
    return mappings


def mappings_for(mappings: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    found = [m for m in mappings if m["request"].get("urlPath") == path and m["request"].get("method") == "POST"]
    assert found, f"no wiremock mapping answers POST {path}"
    return sorted(found, key=lambda mapping: mapping.get("priority", 5))


def test_wiremock_issues_a_token_for_the_worker_credentials(services, monkeypatch):
    token = cruncan_settings(services["worker"], monkeypatch).token
    grant = mappings_for(wiremock_mappings(services), token_client.ENDPOINT)[0]
    body = " ".join(pattern.get("contains", "") for pattern in grant["request"].get("bodyPatterns", []))

    assert grant["request"]["basicAuthCredentials"] == {
        "username": token.client_id(),
        "password": token.client_secret(),
    }
    assert "grant_type=client_credentials" in body
    assert f"scope={token.scope()}" in body
    assert grant["response"]["status"] == 200
    assert {"access_token", "token_type", "expires_in"} <= set(grant["response"]["jsonBody"])


def test_wiremock_accepts_a_forward_that_carries_the_issued_token(services):
    mappings = wiremock_mappings(services)
    issued = mappings_for(mappings, token_client.ENDPOINT)[0]["response"]["jsonBody"]
    accepted = mappings_for(mappings, third_party_client.ENDPOINT)[0]

    assert accepted["request"]["headers"]["Authorization"] == {
        "equalTo": f"{issued['token_type']} {issued['access_token']}"
    }
    assert 200 <= accepted["response"]["status"] < 300


def test_the_image_entrypoint_is_the_console_script_and_its_default_a_subcommand():
    entrypoint = only(final_stage(), "ENTRYPOINT").exec_form
    command = only(final_stage(), "CMD").exec_form

    assert entrypoint[0] in PYPROJECT["project"]["scripts"], f"{entrypoint[0]} is no console script of pyproject"
    assert entrypoint == [entrypoint[0]]
    try:
        build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"the image's default command `cruncan {shlex.join(command)}` is rejected by the CLI")


def test_the_image_runs_as_an_unprivileged_user_it_creates():
    stage = final_stage()
    user = only(stage, "USER").arguments.partition(":")[0]
    created = " ".join(instruction.arguments for instruction in stage if instruction.keyword == "RUN")

    assert user not in {"root", "0"}
    assert re.search(rf"useradd\b[^&;]*\s{re.escape(user)}\b", created), f"the final stage never creates {user}"


def test_the_image_health_check_asks_the_api_for_healthz_on_its_port():
    shipped = load_settings(environ={})
    check = only(final_stage(), "HEALTHCHECK").arguments
    command = " ".join(Instruction("CMD", check.partition("CMD")[2].strip()).exec_form)

    assert "/healthz" in command
    assert f"'{shipped.http.port()}'" in command, "the health check does not default to the shipped http.port"
    assert "CRUNCAN_HTTP__PORT" in command, "the health check ignores a port moved by CRUNCAN_HTTP__PORT"


def test_the_image_is_built_on_a_python_the_project_supports():
    minimum = tuple(int(part) for part in re.findall(r"\d+", PYPROJECT["project"]["requires-python"]))
    args = build_args()
    earlier: set[str] = set()
    for stage in dockerfile_stages():
        image, *alias = stage[0].arguments.split()
        image = re.sub(r"\$\{(\w+)\}", lambda match: args[match[1]], image)
        if image.startswith("python:"):
            version = tuple(int(part) for part in re.findall(r"\d+", image.partition(":")[2])[:2])
            assert version >= minimum, f"{image} is older than requires-python {minimum}"
        else:
            assert image in earlier, f"a stage is built from {image}, neither a python image nor an earlier stage"
        earlier.update(alias[1:])


def copied_sources() -> set[str]:
    sources = set()
    for stage in dockerfile_stages():
        for instruction in stage:
            if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
                sources.update(part.rstrip("/") for part in instruction.exec_form[:-1])
    return sources


def test_the_image_copies_everything_pip_install_needs():
    packages = {pattern.rstrip("*.") for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"], *packages}

    assert needed <= copied_sources(), f"the Dockerfile does not COPY {sorted(needed - copied_sources())}"


def dockerignore_admits(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or any folder above it, decides."""
    admitted = True
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        expression = _dockerignore_expression(pattern.lstrip("!").strip("/"))
        parts = path.split("/")
        if any(expression.fullmatch("/".join(parts[:depth])) for depth in range(1, len(parts) + 1)):
            admitted = negated
    return admitted


def _dockerignore_expression(pattern: str) -> re.Pattern[str]:
    translated = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            translated, index = translated + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            translated, index = translated + ".*", index + 2
        elif pattern[index] == "*":
            translated, index = translated + "[^/]*", index + 1
        elif pattern[index] == "?":
            translated, index = translated + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            translated, index = translated + pattern[index : end + 1], end + 1
        else:
            translated, index = translated + re.escape(pattern[index]), index + 1
    return re.compile(translated)


def test_the_build_context_holds_what_the_image_copies_and_leaves_the_rest_out():
    for source in copied_sources():
        assert dockerignore_admits(source), f".dockerignore leaves out {source}, which the Dockerfile copies"
    for unwanted in (".git", ".venv", "tests", "bench", "domain/__pycache__/model.cpython-311.pyc"):
        assert not dockerignore_admits(unwanted), f".dockerignore lets {unwanted} into the build context"


def _glob_matches(pattern: str, relative: str) -> bool:
    expression = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    return re.fullmatch(expression, relative) is not None


def test_pip_install_ships_every_data_file_the_packages_hold():
    """The tests run from the source tree; `pip install .` in the image ships only what setuptools finds.

    With `namespaces` on (pyproject's default) every folder under an included package is a package too;
    with it off, only folders holding an __init__.py are.
    """
    setuptools = PYPROJECT["tool"]["setuptools"]
    namespaces = setuptools["packages"]["find"].get("namespaces", True)
    package_data = setuptools.get("package-data", {})
    unshipped = []
    for top in (pattern.rstrip("*.") for pattern in setuptools["packages"]["find"]["include"]):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".py":
                continue
            package = ROOT / top
            for part in path.relative_to(ROOT / top).parts[:-1]:
                if not (part.isidentifier() and (namespaces or (package / part / "__init__.py").is_file())):
                    break
                package = package / part
            name = ".".join(package.relative_to(ROOT).parts)
            patterns = [*package_data.get("*", []), *package_data.get(name, [])]
            if not any(_glob_matches(pattern, path.relative_to(package).as_posix()) for pattern in patterns):
                unshipped.append(str(path.relative_to(ROOT)))

    assert not unshipped, (
        f"`pip install .` would leave out {unshipped}: add a pattern for them to "
        "[tool.setuptools.package-data] in pyproject.toml"
    )
