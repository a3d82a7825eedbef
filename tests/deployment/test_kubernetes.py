"""deploy/kubernetes, checked offline: every overlay renders with `kubectl kustomize`, every object
validates strictly against the schemas of a pinned Kubernetes version, and the rendered objects keep
the rules of tests/deployment/invariants.py, which are shown to catch broken objects."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from opentelemetry.sdk import environment_variables as otel_sdk_variables

from entrypoints.cli import COMMANDS
from entrypoints.settings import DEFAULTS, ENV_PREFIX, SettingsError, load_settings, setting
from tests.deployment import dockerfile, invariants
from tests.deployment.custom_resources import SCHEMAS
from tests.deployment.manifests import (
    COMPONENTS,
    KUBERNETES,
    OVERLAYS,
    ROOT,
    Object,
    command_of,
    container_environment,
    container_settings,
    file_env,
    kubectl,
    name_of,
    named,
    of_kind,
    render,
    render_with_components,
    secret_keys,
    secret_mounts,
    workload,
    workloads,
)

KUBERNETES_VERSION = "1.34"
"""The Kubernetes version whose schemas the objects must satisfy (shipped inside kubernetes-validate)."""

WITH_OPTIONS = "production+keda-worker+grpc"
"""Production with every optional component, as a user adds them to the overlay."""
RENDERINGS = (*OVERLAYS, WITH_OPTIONS)
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
README = (ROOT / "README.md").read_text()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Object]]:
    renderings = {overlay: render(KUBERNETES / "overlays" / overlay) for overlay in OVERLAYS}
    renderings[WITH_OPTIONS] = render_with_components(
        "production", ["keda-worker", "grpc"], tmp_path_factory.mktemp("options")
    )
    return renderings


@pytest.fixture(params=RENDERINGS)
def objects(request: pytest.FixtureRequest, rendered: dict[str, list[Object]]) -> list[Object]:
    return copy.deepcopy(rendered[request.param])


@pytest.fixture
def production(rendered: dict[str, list[Object]]) -> list[Object]:
    return copy.deepcopy(rendered["production"])


def schema_errors(obj: Object) -> list[str]:
    custom = SCHEMAS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if custom is not None:
        validator = jsonschema.Draft202012Validator(custom)
        return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{exc.message}; a custom resource needs a schema in tests/deployment/custom_resources.py"]
    return []


# Rendering and schemas


def test_each_overlay_renders_every_part(rendered: dict[str, list[Object]]) -> None:
    for name, objects in rendered.items():
        commands = {command_of(item.pod["containers"][0]) for item in workloads(objects)}
        assert {"api", "worker", "migrate", "cleanup", "redrive"} <= commands, name
    assert "relay" in {command_of(item.pod["containers"][0]) for item in workloads(rendered["production"])}
    assert of_kind(rendered[WITH_OPTIONS], "ScaledObject")
    assert workload(rendered[WITH_OPTIONS], "grpc")


def test_every_object_validates_strictly_against_the_pinned_kubernetes_schemas(objects: list[Object]) -> None:
    problems = {name_of(obj): schema_errors(obj) for obj in objects}
    assert {name: errors for name, errors in problems.items() if errors} == {}


def test_the_schemas_are_shipped_for_the_pinned_version() -> None:
    assert any(version.startswith(f"{KUBERNETES_VERSION}.") for version in kubernetes_validate.utils.all_versions())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["spec", "template", "spec", "containers", 0, "livenesProbe"], {}),
        (["spec", "template", "spec", "containers", 0, "resources", "limits", "cpu"], {"cores": 1}),
        (["spec", "template", "spec", "terminationGracePeriodSeconds"], "forty-five"),
        (["spec", "strategy", "type"], 7),
    ],
)
def test_schema_validation_rejects_a_misspelled_or_mistyped_field(
    production: list[Object], path: list[str | int], value: object
) -> None:
    api = named(production, "Deployment", "cruncan-api")
    place = api
    for step in path[:-1]:
        place = place[step]
    place[path[-1]] = value
    assert schema_errors(api)


def test_an_unknown_kind_fails_instead_of_being_skipped() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "custom_resources.py" in schema_errors(unknown)[0]


@pytest.mark.parametrize(
    "breaking",
    [
        lambda so: so["spec"].update(maxReplicas=3),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(lagThreshold=100),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(consumergroup="x"),
        lambda so: so["spec"]["triggers"][0].update(type="kafak"),
    ],
)
def test_the_scaled_object_schema_rejects_broken_objects(
    rendered: dict[str, list[Object]], breaking: Callable[[Object], None]
) -> None:
    scaled = copy.deepcopy(of_kind(rendered[WITH_OPTIONS], "ScaledObject")[0])
    assert schema_errors(scaled) == []
    breaking(scaled)
    assert schema_errors(scaled)


def test_kubectl_missing_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="kubectl is not installed"):
        kubectl()


def test_a_kustomize_error_fails_with_kubectl_s_message(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(pytest.fail.Exception, match=r"missing\.yaml"):
        render(tmp_path)


# Invariants


def test_the_rendered_objects_keep_every_invariant(objects: list[Object]) -> None:
    assert invariants.problems_of(objects) == []


Breakage = Callable[[list[Object]], None]


def _container(objects: list[Object], command: str) -> Object:
    return workload(objects, command).pod["containers"][0]


def _cron(objects: list[Object]) -> Object:
    return named(objects, "CronJob", "cruncan-cleanup")


BREAKAGES: dict[str, tuple[Breakage, str]] = {
    "latest tag": (lambda o: _container(o, "worker").update(image="registry.example.com/cruncan:latest"), "not pinned"),
    "no tag": (lambda o: _container(o, "migrate").update(image="registry.example.com:5000/cruncan"), "not pinned"),
    "no memory limit": (lambda o: _container(o, "api")["resources"]["limits"].pop("memory"), "no limits.memory"),
    "no cpu request": (lambda o: _container(o, "cleanup")["resources"]["requests"].pop("cpu"), "no requests.cpu"),
    "root allowed": (
        lambda o: [
            _container(o, "api")["securityContext"].pop("runAsNonRoot"),
            workload(o, "api").pod["securityContext"].pop("runAsNonRoot"),
        ],
        "may run as root",
    ),
    "writable root": (
        lambda o: _container(o, "worker")["securityContext"].update(readOnlyRootFilesystem=False),
        "writable",
    ),
    "escalation": (
        lambda o: _container(o, "redrive")["securityContext"].pop("allowPrivilegeEscalation"),
        "privilege escalation",
    ),
    "capability kept": (
        lambda o: _container(o, "relay")["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "drop ALL",
    ),
    "no seccomp": (lambda o: workload(o, "migrate").pod["securityContext"].pop("seccompProfile"), "seccomp"),
    "no /tmp": (lambda o: _container(o, "api")["volumeMounts"].pop(), "/tmp"),
    "token mounted": (lambda o: workload(o, "worker").pod.pop("automountServiceAccountToken"), "service account token"),
    "no liveness": (lambda o: _container(o, "worker").pop("livenessProbe"), "no livenessProbe"),
    "readiness on liveness path": (
        lambda o: _container(o, "api")["readinessProbe"]["httpGet"].update(path="/healthz"),
        "readinessProbe asks /healthz",
    ),
    "probe on undeclared port": (
        lambda o: _container(o, "worker")["livenessProbe"]["httpGet"].update(port="metrics"),
        "declared port",
    ),
    "no POD_IP": (lambda o: _container(o, "api")["env"].pop(0), "POD_IP"),
    "concurrent cron": (lambda o: _cron(o)["spec"].update(concurrencyPolicy="Allow"), "not Forbid"),
    "no starting deadline": (lambda o: _cron(o)["spec"].pop("startingDeadlineSeconds"), "startingDeadlineSeconds"),
    "no active deadline": (
        lambda o: workload(o, "migrate").job_spec.pop("activeDeadlineSeconds"),
        "activeDeadlineSeconds",
    ),
    "large backoff": (lambda o: _cron(o)["spec"]["jobTemplate"]["spec"].update(backoffLimit=10), "backoffLimit 10"),
    "no ttl": (
        lambda o: _cron(o)["spec"]["jobTemplate"]["spec"].pop("ttlSecondsAfterFinished"),
        "ttlSecondsAfterFinished",
    ),
    "short grace": (
        lambda o: workload(o, "worker").pod.update(terminationGracePeriodSeconds=30),
        "shorter than its shutdown",
    ),
    "longer drain": (
        lambda o: named(o, "ConfigMap", _container(o, "api")["envFrom"][0]["configMapRef"]["name"])["data"].update(
            CRUNCAN_HTTP__SHUTDOWN_TIMEOUT_S="60"
        ),
        "cruncan-api: terminationGracePeriodSeconds 45",
    ),
    "no preStop": (lambda o: _container(o, "api").pop("lifecycle"), "without a preStop pause"),
    "pdb selects nothing": (
        lambda o: named(o, "PodDisruptionBudget", "cruncan-worker")["spec"]["selector"]["matchLabels"].update(
            {"app.kubernetes.io/component": "workers"}
        ),
        "0 PodDisruptionBudgets",
    ),
    "service selects nothing": (
        lambda o: named(o, "Service", "cruncan-api")["spec"]["selector"].update({"app.kubernetes.io/component": "apy"}),
        "selects no pods",
    ),
    "service port undeclared": (
        lambda o: named(o, "Service", "cruncan-api")["spec"]["ports"][0].update(targetPort="web"),
        "targetPort web",
    ),
    "hpa and replicas": (lambda o: workload(o, "api").obj["spec"].update(replicas=2), "fixes replicas"),
    "owner credentials in the api": (
        lambda o: (
            workload(o, "api")
            .pod["volumes"][0]["secret"]["items"]
            .append({"key": "postgres-owner-dsn", "path": "owner"})
        ),
        "schema owner",
    ),
    "file outside the secret": (
        lambda o: _container(o, "worker")["env"][-1].update(value="/etc/token-client-secret"),
        "no Secret volume mounts",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_each_invariant_names_a_broken_object(production: list[Object], breakage: str) -> None:
    breaking, expected = BREAKAGES[breakage]
    assert not any(expected in problem for problem in invariants.problems_of(production))
    breaking(production)
    problems = invariants.problems_of(production)
    assert any(expected in problem for problem in problems), problems


def test_a_secret_missing_a_mounted_key_is_named(rendered: dict[str, list[Object]]) -> None:
    local = copy.deepcopy(rendered["local"])
    of_kind(local, "Secret")[0]["data"].pop("token-client-secret")
    assert any("does not hold" in problem for problem in invariants.mounted_secrets(local))


def test_a_job_with_probes_is_named(production: list[Object]) -> None:
    _container(production, "migrate")["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8099}}
    assert any("run-to-completion" in problem for problem in invariants.probes(production))


HARDENING_FIELDS = ("image", "resources", "securityContext", "volumeMounts", "env")


@hypothesis_settings(deadline=None, max_examples=50)
@given(data=st.data())
def test_removing_any_hardening_field_from_any_container_is_caught(
    rendered: dict[str, list[Object]], data: st.DataObject
) -> None:
    """Draws names, not objects, so a failing example prints short; each example renders nothing."""
    objects = copy.deepcopy(rendered["production"])
    by_name = {item.name: item for item in workloads(objects)}
    item = by_name[data.draw(st.sampled_from(sorted(by_name)), label="workload")]
    containers = {container["name"]: container for container in item.containers}
    container = containers[data.draw(st.sampled_from(sorted(containers)), label="container")]
    field = data.draw(st.sampled_from(HARDENING_FIELDS), label="field removed")
    if field == "image":
        container["image"] = container["image"].rsplit(":", 1)[0]
    else:
        container.pop(field)
    assert any(item.name in problem for problem in invariants.problems_of(objects))


# What the manifests say agrees with the code they run


def allowed_plain_variables() -> set[str]:
    """Variables other than CRUNCAN_* a ConfigMap may set: those settings.yaml reads, and the
    OpenTelemetry SDK's."""
    placeholders = set(re.findall(r"\$\{(\w+)", DEFAULTS.read_text()))
    sdk = {value for name, value in vars(otel_sdk_variables).items() if name.startswith("OTEL_")}
    return placeholders | sdk


def config_map_problems(data: dict[str, str]) -> list[str]:
    problems = [
        f"{name} is neither a cruncan setting nor a variable cruncan reads"
        for name in data
        if not name.startswith(ENV_PREFIX) and name not in allowed_plain_variables()
    ]
    try:
        load_settings(environ={name: value for name, value in data.items() if name.startswith(ENV_PREFIX)})
    except SettingsError as exc:
        problems.append(str(exc))
    return problems


def test_config_map_keys_are_real_settings(objects: list[Object]) -> None:
    maps = of_kind(objects, "ConfigMap")
    assert maps
    assert {name_of(cm): config_map_problems(cm["data"]) for cm in maps} == {name_of(cm): [] for cm in maps}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CRUNCAN_HTTP__PORTT", "8099", "unknown setting http.portt"),
        ("CRUNCAN_HTTP__PORT", "eighty", "expects int"),
        ("CRUNCAN_STORAGE__BACKEND", "mysql", "storage.backend"),
        ("OTEL_EXPORTER_OTLP_ENDPIONT", "http://x", "neither a cruncan setting"),
        ("TOKEN_SECRET", "x", "neither a cruncan setting"),
    ],
)
def test_a_config_map_with_a_wrong_key_is_refused(key: str, value: str, expected: str) -> None:
    assert any(expected in problem for problem in config_map_problems({key: value}))


def test_every_container_loads_its_settings_and_selects_the_real_servers(objects: list[Object]) -> None:
    for item in workloads(objects):
        for container in item.containers:
            settings = container_settings(objects, container)
            assert setting(settings, "storage.backend") == "postgres", item.name
            assert setting(settings, "messaging.backend") == "kafka", item.name


def test_the_ports_a_pod_declares_are_the_ports_its_process_listens_on(objects: list[Object]) -> None:
    listens = {"api": ("http", "http.port"), "worker": ("health", "worker.health.port")}
    for item in workloads(objects):
        for container in item.containers:
            command = container.get("args", [None])[0]
            if command not in listens:
                continue
            name, key = listens[command]
            declared = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
            assert declared.get(name) == setting(container_settings(objects, container), key), (item.name, key)


def test_settings_read_from_files_name_secret_settings(objects: list[Object]) -> None:
    """`CRUNCAN_<SECTION>__<KEY>_FILE` carries the value of a real setting, which is left out of the
    ConfigMap; the DSNs and the token secret come only from the Secret."""
    defaults = load_settings(environ={})
    for item in workloads(objects):
        for container in item.containers:
            for name in file_env(container):
                key = name[len(ENV_PREFIX) : -len("_FILE")].lower().replace("__", ".")
                assert isinstance(setting(defaults, key), str | None), f"{item.name}: {name} names no setting"
                assert name.removesuffix("_FILE") not in container_environment(objects, container)
    for cm in of_kind(objects, "ConfigMap"):
        assert not {"CRUNCAN_STORAGE__POSTGRES__DSN", "CRUNCAN_TOKEN__CLIENT_SECRET"} & set(cm["data"])


def test_containers_run_cruncan_commands(objects: list[Object]) -> None:
    for item in workloads(objects):
        for container in item.containers:
            assert container["command"] == ["cruncan"], item.name
            assert command_of(container) in set(COMMANDS), item.name


def test_one_release_everywhere_and_the_migration_job_is_named_after_it(objects: list[Object]) -> None:
    tags = {invariants.image_tag(c["image"]) for item in workloads(objects) for c in item.containers}
    assert tags == {PROJECT_VERSION}
    assert workload(objects, "migrate").obj["metadata"]["name"] == f"cruncan-migrate-{PROJECT_VERSION}"


def test_the_migration_runs_as_the_owner_and_everything_else_as_the_app_role(rendered: dict[str, list[Object]]) -> None:
    local = rendered["local"]
    secret = secret_keys(of_kind(local, "Secret")[0])
    assert urlsplit(secret["postgres-owner-dsn"]).username == "cruncan_owner"
    assert urlsplit(secret["postgres-app-dsn"]).username == "cruncan_app"
    for item in workloads(local):
        container = item.pod["containers"][0]
        keys = {key for _, _, key in secret_mounts(item, container)}
        expected = "postgres-owner-dsn" if command_of(container) == "migrate" else "postgres-app-dsn"
        assert expected in keys, item.name
        dsn_file = file_env(container)["CRUNCAN_STORAGE__POSTGRES__DSN_FILE"]
        assert dsn_file.endswith("/" + expected), item.name


def test_the_separate_relays_turn_the_api_s_relay_off(rendered: dict[str, list[Object]]) -> None:
    for overlay, embedded in (("local", True), ("production", False)):
        objects = rendered[overlay]
        assert setting(container_settings(objects, _container(objects, "api")), "relay.embedded") is embedded
        assert any(command_of(item.pod["containers"][0]) == "relay" for item in workloads(objects)) is not embedded


def test_workers_never_outnumber_the_partitions(objects: list[Object]) -> None:
    worker = workload(objects, "worker")
    partitions = setting(container_settings(objects, worker.pod["containers"][0]), "messaging.kafka.partitions")
    assert worker.obj["spec"].get("replicas", 1) <= partitions
    for scaled in of_kind(objects, "ScaledObject"):
        assert scaled["spec"]["maxReplicaCount"] <= partitions


def test_the_scaled_object_watches_the_worker_s_group(rendered: dict[str, list[Object]]) -> None:
    objects = rendered[WITH_OPTIONS]
    worker = workload(objects, "worker")
    settings = container_settings(objects, worker.pod["containers"][0])
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker.obj["metadata"]["name"]
    assert scaled["metadata"]["namespace"] == worker.obj["metadata"]["namespace"]
    assert "replicas" not in worker.obj["spec"], "KEDA owns the count; a fixed one is reset on every apply"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["bootstrapServers"] == setting(settings, "messaging.kafka.bootstrap_servers")
    assert trigger["metadata"]["consumerGroup"] == setting(settings, "worker.group_id")
    assert trigger["metadata"]["topic"] == setting(settings, "messaging.kafka.topic")
    assert trigger["metadata"]["allowIdleConsumers"] == "false"


def test_each_overlay_runs_in_its_own_restricted_namespace(rendered: dict[str, list[Object]]) -> None:
    for overlay in OVERLAYS:
        objects = rendered[overlay]
        (namespace,) = of_kind(objects, "Namespace")
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        others = {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"}
        assert others == {namespace["metadata"]["name"]}


def test_the_readme_lists_the_secret_production_must_create(rendered: dict[str, list[Object]]) -> None:
    production = rendered["production"]
    assert not of_kind(production, "Secret"), "production's Secret is created by the operator, never committed"
    section = README.partition("## Deploy on Kubernetes")[2].partition("\n## ")[0]
    assert section, "README.md has no 'Deploy on Kubernetes' section"
    mounted = {
        (secret, key)
        for item in workloads(production)
        for c in item.containers
        for _, secret, key in secret_mounts(item, c)
    }
    for secret, key in mounted:
        assert secret in section, f"the README does not name the Secret {secret}"
        assert key in section, f"the README does not say to put {key} in Secret {secret}"


def test_the_manifests_components_all_exist() -> None:
    for component in COMPONENTS:
        kustomization = yaml.safe_load((KUBERNETES / "components" / component / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Component"
    assert {path.name for path in (KUBERNETES / "components").iterdir()} == set(COMPONENTS)


def test_the_readme_s_first_apply_holds_what_the_migration_needs_and_no_service(
    rendered: dict[str, list[Object]],
) -> None:
    """The README applies `-l '<label> notin (...)'` first, waits for the Job, then applies the rest."""
    found = re.search(r"kubectl apply -k \$K -l '([\w./-]+) notin \(([\w,]+)\)'", README)
    assert found, "the README's first `kubectl apply` with a label selector is missing"
    label, excluded = found[1], set(found[2].split(","))
    for overlay in OVERLAYS:
        objects = rendered[overlay]
        first = [obj for obj in objects if obj["metadata"].get("labels", {}).get(label) not in excluded]
        assert not [obj for obj in first if obj["kind"] == "Deployment"], overlay
        migration = workload(first, "migrate")
        needs = {("ServiceAccount", migration.pod["serviceAccountName"])}
        needs |= {("ConfigMap", s["configMapRef"]["name"]) for s in migration.pod["containers"][0]["envFrom"]}
        needs |= {("Secret", v["secret"]["secretName"]) for v in migration.pod["volumes"] if "secret" in v}
        needs |= {("Namespace", migration.obj["metadata"]["namespace"])}
        present = {(obj["kind"], obj["metadata"]["name"]) for obj in first}
        operator_made = {("Secret", "cruncan-secrets")} if overlay == "production" else set()
        assert needs - operator_made <= present, overlay
    waited = re.search(rf"job/cruncan-migrate-{re.escape(PROJECT_VERSION)}\s", README)
    assert waited, "the README waits for another release's Job"


def test_pods_run_as_the_image_s_own_user(objects: list[Object]) -> None:
    """The uid and gid the image's final stage creates: the files it installs are readable by them."""
    commands = " ".join(i.arguments for i in dockerfile.final_stage() if i.keyword == "RUN")
    uid = re.search(r"useradd [^&;]*--uid (\d+)", commands)
    gid = re.search(r"groupadd [^&;]*--gid (\d+)", commands)
    assert uid, "the Dockerfile's final stage creates no user with a fixed uid"
    assert gid, "the Dockerfile's final stage creates no group with a fixed gid"
    for item in workloads(objects):
        context = item.pod["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid[1]), int(gid[1])), item.name


LISTENERS = {"api": ("http", "http.host", "http.port"), "grpc": ("grpc", "grpc.host", "grpc.port")}
"""Per command: the container port its probes and Service use, and the settings it listens on."""


def test_servers_listen_on_the_port_they_declare_and_beyond_loopback(objects: list[Object]) -> None:
    for item in workloads(objects):
        container = item.pod["containers"][0]
        if command_of(container) not in LISTENERS:
            continue
        port_name, host_key, port_key = LISTENERS[command_of(container)]
        settings = container_settings(objects, container)
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert declared[port_name] == setting(settings, port_key), item.name
        assert setting(settings, host_key) == "0.0.0.0", f"{item.name}: probes from the kubelet never reach loopback"


@pytest.mark.parametrize(
    ("breaking", "expected"),
    [
        (lambda probe: probe["grpc"].pop("service"), "not the service's"),
        (lambda probe: probe["grpc"].update(port=9000), "not a declared port"),
        (lambda probe: probe.update(exec={"command": ["true"]}) or probe.pop("grpc"), "neither an HTTP nor a gRPC"),
    ],
)
def test_a_broken_grpc_probe_is_named(
    rendered: dict[str, list[Object]], breaking: Callable[[Object], None], expected: str
) -> None:
    objects = copy.deepcopy(rendered[WITH_OPTIONS])
    assert invariants.probes(objects) == []
    breaking(_container(objects, "grpc")["readinessProbe"])
    assert any(expected in problem for problem in invariants.probes(objects))


def test_the_grpc_grace_covers_its_drain(rendered: dict[str, list[Object]]) -> None:
    objects = copy.deepcopy(rendered[WITH_OPTIONS])
    workload(objects, "grpc").pod["terminationGracePeriodSeconds"] = 25
    assert any("cruncan-grpc: terminationGracePeriodSeconds 25" in p for p in invariants.termination_grace(objects))
