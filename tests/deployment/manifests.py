"""The Kubernetes manifests as `kubectl kustomize` renders them, and the parts of them tests look at:
workloads, their pod specs and containers, and the settings a container starts with."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from dependency_injector import providers

from entrypoints.settings import ENV_PREFIX, load_settings
from tests.deployment import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("local", "production")
COMPONENTS = ("separate-relays", "keda-worker", "grpc")

Object = dict[str, Any]


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not installed or not on PATH: the deployment tests render deploy/kubernetes with "
            "`kubectl kustomize` (kubectl 1.27 or later; it embeds kustomize v5)",
            pytrace=False,
        )
    return path


def render(directory: Path) -> list[Object]:
    """The objects `kubectl kustomize directory` renders; a kustomize error fails the test with its message."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{done.stderr.strip()}", pytrace=False)
    return [item for item in yaml.safe_load_all(done.stdout) if item]


def render_with_components(overlay: str, components: Sequence[str], scratch: Path) -> list[Object]:
    """An overlay with extra components, as if listed in its own `components:`: a kustomization in
    `scratch` on top of it that repeats the overlay's namespace and images, which the overlay would
    also apply to what the components add. `scratch` must share a file system root with the repository."""
    own = yaml.safe_load((KUBERNETES / "overlays" / overlay / "kustomization.yaml").read_text())
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": own["namespace"],
        "images": own["images"],
        "resources": [os.path.relpath(KUBERNETES / "overlays" / overlay, scratch)],
        "components": [os.path.relpath(KUBERNETES / "components" / name, scratch) for name in components],
    }
    (scratch / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return render(scratch)


def name_of(obj: Object) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objects: Sequence[Object], kind: str) -> list[Object]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: Sequence[Object], kind: str, name: str) -> Object:
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert found, f"no {kind}/{name} among {[name_of(obj) for obj in objects]}"
    return found[0]


@dataclass(frozen=True)
class Workload:
    """A Deployment, Job or CronJob, with the pod template it runs."""

    obj: Object

    @property
    def name(self) -> str:
        return name_of(self.obj)

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def long_running(self) -> bool:
        return self.kind == "Deployment"

    @property
    def job_spec(self) -> Object:
        """The Job spec of a Job or a CronJob's job template."""
        return self.obj["spec"]["jobTemplate"]["spec"] if self.kind == "CronJob" else self.obj["spec"]

    @property
    def template(self) -> Object:
        return self.job_spec["template"] if self.kind in {"Job", "CronJob"} else self.obj["spec"]["template"]

    @property
    def pod(self) -> Object:
        return self.template["spec"]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.template.get("metadata", {}).get("labels", {}))

    @property
    def containers(self) -> list[Object]:
        return [*self.pod.get("initContainers", []), *self.pod["containers"]]


WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")


def workloads(objects: Sequence[Object]) -> list[Workload]:
    return [Workload(obj) for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def workload(objects: Sequence[Object], command: str) -> Workload:
    """The one workload whose container runs `cruncan <command>`."""
    found = [item for item in workloads(objects) if command_of(item.pod["containers"][0]) == command]
    assert len(found) == 1, f"expected one workload running `cruncan {command}`, found {[w.name for w in found]}"
    return found[0]


def command_of(container: Object) -> str:
    """The cruncan subcommand a container runs (its first argument)."""
    args = container.get("args") or []
    return str(args[0]) if args else ""


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def config_map_data(objects: Sequence[Object], container: Object) -> dict[str, str]:
    """Every variable a container takes from ConfigMaps through `envFrom`."""
    data: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data.update(named(objects, "ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    return data


def literal_env(container: Object) -> dict[str, str]:
    return {item["name"]: str(item["value"]) for item in container.get("env", []) if "value" in item}


def file_env(container: Object) -> dict[str, str]:
    """The `CRUNCAN_..._FILE` variables: a setting read from a mounted file."""
    return {name: value for name, value in literal_env(container).items() if _is_file_setting(name)}


def _is_file_setting(name: str) -> bool:
    return name.startswith(ENV_PREFIX) and name.endswith("_FILE")


def container_environment(objects: Sequence[Object], container: Object) -> dict[str, str]:
    """The variables a container starts with that hold values (not files), later ones winning as in
    Kubernetes: `envFrom` first, then `env`."""
    env = config_map_data(objects, container)
    env.update({name: value for name, value in literal_env(container).items() if not _is_file_setting(name)})
    return env


def container_settings(objects: Sequence[Object], container: Object) -> providers.Configuration:
    """The settings the container's process loads, through the project's own loader (which also reads
    the `${VAR}` placeholders of settings.yaml from the process environment)."""
    env = container_environment(objects, container)
    plain = {name: value for name, value in env.items() if not name.startswith(ENV_PREFIX)}
    with mock.patch.dict(os.environ, plain):
        return load_settings(environ=env)


def secret_keys(secret: Object) -> dict[str, str]:
    """A Secret's keys and decoded values."""
    values = {key: base64.b64decode(value).decode() for key, value in secret.get("data", {}).items()}
    values.update(secret.get("stringData", {}))
    return values


def secret_mounts(workload: Workload, container: Object) -> Iterator[tuple[str, str, str]]:
    """(file path, Secret name, key) for every Secret key mounted into the container."""
    volumes = {volume["name"]: volume for volume in workload.pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes.get(mount["name"], {}).get("secret")
        if secret is None:
            continue
        for item in secret.get("items", []):
            yield f"{mount['mountPath'].rstrip('/')}/{item['path']}", secret["secretName"], item["key"]
