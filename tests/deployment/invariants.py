"""Rules every rendering of deploy/kubernetes keeps. Each takes the rendered objects and returns its
problems, one sentence naming the object each, so a test can feed a broken object and see it named."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from entrypoints.settings import SettingsError, setting
from entrypoints.worker.main import CLOSE_MARGIN_S
from tests.deployment.manifests import (
    Object,
    Workload,
    command_of,
    container_settings,
    file_env,
    name_of,
    of_kind,
    secret_keys,
    secret_mounts,
    selects,
    workloads,
)

Invariant = Callable[[Sequence[Object]], list[str]]

WITHOUT_HEALTH_ENDPOINT = {"relay": "`cruncan relay` serves no HTTP, so there is nothing for a probe to ask"}
"""Long-running commands that cannot be probed, and why; every other Deployment container must be."""

SMALL_BACKOFF_LIMIT = 3
GRPC_STOP_MARGIN_S = 5.0
"""How long GrpcServer.stop waits beyond grpc.shutdown_timeout_s for the server to stop."""
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def image_tag(image: str) -> str:
    """The tag of an image reference (`registry:5000/name:tag@digest` gives `tag`), or ''."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.partition(":")[2]


def pinned_images(objects: Sequence[Object]) -> list[str]:
    problems = []
    for item in workloads(objects):
        for container in item.containers:
            tag = image_tag(container.get("image", ""))
            if not _TAG.match(tag) or tag == "latest":
                problems.append(
                    f"{item.name} container {container['name']}: image {container.get('image')!r} not pinned to a tag"
                )
            if container.get("imagePullPolicy") == "Always":
                problems.append(f"{item.name} container {container['name']}: imagePullPolicy Always with a pinned tag")
    return problems


def resources(objects: Sequence[Object]) -> list[str]:
    problems = []
    for item in workloads(objects):
        for container in item.containers:
            for bound in ("requests", "limits"):
                given = container.get("resources", {}).get(bound, {})
                problems += [
                    f"{item.name} container {container['name']}: no {bound}.{resource}"
                    for resource in ("cpu", "memory")
                    if resource not in given
                ]
    return problems


def locked_down(objects: Sequence[Object]) -> list[str]:
    """Non-root, read-only root file system with a writable /tmp, no privilege escalation, no
    capabilities, the runtime's seccomp profile, and no Kubernetes API token."""
    problems = []
    for item in workloads(objects):
        pod_context = item.pod.get("securityContext", {})
        if item.pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{item.name}: mounts a service account token it never uses")
        tmp_volumes = {v["name"] for v in item.pod.get("volumes", []) if "emptyDir" in v}
        for container in item.containers:
            context = container.get("securityContext", {})
            where = f"{item.name} container {container['name']}"
            if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
                problems.append(f"{where}: may run as root (runAsNonRoot is not true)")
            if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
                problems.append(f"{where}: runs as user 0")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: the root file system is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allows privilege escalation")
            if "ALL" not in context.get("capabilities", {}).get("drop", []) or context.get("capabilities", {}).get(
                "add"
            ):
                problems.append(f"{where}: does not drop ALL capabilities")
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            if not any(
                m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container.get("volumeMounts", [])
            ):
                problems.append(f"{where}: no emptyDir at /tmp for the read-only root file system")
    return problems


def probes(objects: Sequence[Object]) -> list[str]:
    """Long-running containers answer liveness and readiness on a port they declare: over HTTP on
    /healthz and /readyz, or with the gRPC health service (readiness asking for the service served)."""
    problems = []
    for item in workloads(objects):
        for container in item.pod["containers"]:
            where = f"{item.name} container {container['name']}"
            if not item.long_running:
                problems += [
                    f"{where}: a run-to-completion pod has a {p}"
                    for p in ("livenessProbe", "readinessProbe")
                    if p in container
                ]
                continue
            if command_of(container) in WITHOUT_HEALTH_ENDPOINT:
                continue
            ports = {p.get("name") for p in container.get("ports", [])} | {
                p["containerPort"] for p in container.get("ports", [])
            }
            for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                problems += _probe_problems(where, kind, container.get(kind), path, ports)
    return problems


def _probe_problems(where: str, kind: str, probe: Object | None, path: str, ports: set[object]) -> list[str]:
    if probe is None:
        return [f"{where}: no {kind}"]
    if "grpc" in probe:
        if probe["grpc"].get("port") not in ports:
            return [f"{where}: {kind} asks gRPC health on port {probe['grpc'].get('port')}, not a declared port"]
        if kind == "readinessProbe" and not probe["grpc"].get("service"):
            return [f"{where}: {kind} asks the server's gRPC health, not the service's"]
        return []
    http = probe.get("httpGet")
    if http is None:
        return [f"{where}: {kind} is neither an HTTP nor a gRPC health check"]
    if http.get("path") != path or http.get("port") not in ports:
        asked = f"{http.get('path')} on port {http.get('port')}"
        return [f"{where}: {kind} asks {asked}, not {path} on a declared port"]
    return []


def pod_ip(objects: Sequence[Object]) -> list[str]:
    """Every container gets POD_IP from the downward API: settings.yaml derives the Snowflake node from it."""
    problems = []
    for item in workloads(objects):
        for container in item.pod["containers"]:
            sources = [
                e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                for e in container.get("env", [])
                if e["name"] == "POD_IP"
            ]
            if sources != ["status.podIP"]:
                problems.append(f"{item.name} container {container['name']}: POD_IP does not come from status.podIP")
    return problems


def bounded_jobs(objects: Sequence[Object]) -> list[str]:
    """CronJobs never overlap nor catch up forever; every Job retries a little, ends, and is cleaned up."""
    problems = []
    for cron in of_kind(objects, "CronJob"):
        spec = cron["spec"]
        if spec.get("concurrencyPolicy") != "Forbid":
            problems.append(f"{name_of(cron)}: concurrencyPolicy is {spec.get('concurrencyPolicy')}, not Forbid")
        if not isinstance(spec.get("startingDeadlineSeconds"), int):
            problems.append(f"{name_of(cron)}: no startingDeadlineSeconds")
    for item in workloads(objects):
        if item.long_running:
            continue
        job = item.job_spec
        if not isinstance(job.get("activeDeadlineSeconds"), int):
            problems.append(f"{item.name}: no activeDeadlineSeconds")
        if not isinstance(job.get("backoffLimit"), int) or job["backoffLimit"] > SMALL_BACKOFF_LIMIT:
            problems.append(f"{item.name}: backoffLimit {job.get('backoffLimit')} is not a small number")
        if not isinstance(job.get("ttlSecondsAfterFinished"), int):
            problems.append(f"{item.name}: no ttlSecondsAfterFinished")
        if item.pod.get("restartPolicy") != "Never":
            problems.append(f"{item.name}: restartPolicy is not Never (backoffLimit counts pods)")
    return problems


def shutdown_budget_s(objects: Sequence[Object], item: Workload, container: Object) -> float:
    """The longest a container may take from the pod's termination to its exit, from the settings it
    loads: the preStop pause, then each stage of its command's shutdown in turn."""
    settings = container_settings(objects, container)
    close_s = float(setting(settings, "messaging.kafka.close_timeout_s"))
    relay_s = max(float(setting(settings, "relay.drain_s")), float(setting(settings, "relay.shutdown_timeout_s")))
    embedded_relay_s = relay_s if setting(settings, "relay.embedded") else 0.0
    command = command_of(container)
    if command == "api":
        stages = float(setting(settings, "http.shutdown_timeout_s")) + embedded_relay_s
    elif command == "grpc":
        stages = float(setting(settings, "grpc.shutdown_timeout_s")) + GRPC_STOP_MARGIN_S + embedded_relay_s
    elif command == "relay":
        stages = relay_s
    elif command == "worker":
        stages = float(setting(settings, "worker.shutdown_timeout_s")) + CLOSE_MARGIN_S
    else:
        raise AssertionError(f"{item.name}: no shutdown budget known for `cruncan {command}`")
    return pre_stop_s(container) + stages + close_s


def pre_stop_s(container: Object) -> float:
    pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    return float(pause.get("seconds", 0))


def termination_grace(objects: Sequence[Object]) -> list[str]:
    problems = []
    for item in workloads(objects):
        if not item.long_running:
            continue
        grace = item.pod.get("terminationGracePeriodSeconds", 30)
        for container in item.pod["containers"]:
            try:
                budget = shutdown_budget_s(objects, item, container)
            except SettingsError as exc:
                problems.append(f"{item.name} container {container['name']}: its settings do not load: {exc}")
                continue
            if grace < budget:
                problems.append(
                    f"{item.name}: terminationGracePeriodSeconds {grace} is shorter than its shutdown ({budget:g} s)"
                )
    return problems


def served_pods_pause(objects: Sequence[Object]) -> list[str]:
    """A pod behind a Service pauses before SIGTERM, so proxies stop sending to it before it stops accepting."""
    problems = []
    for service in of_kind(objects, "Service"):
        for item in workloads(objects):
            if selects(service["spec"].get("selector", {}), item.labels):
                problems += [
                    f"{item.name} container {container['name']}: behind {name_of(service)} without a preStop pause"
                    for container in item.pod["containers"]
                    if pre_stop_s(container) <= 0
                ]
    return problems


def selectors(objects: Sequence[Object]) -> list[str]:
    """Deployments select their own pods; each has one PodDisruptionBudget selecting exactly its pods;
    Services select pods and name a port they declare; an autoscaler's target exists and leaves it no
    fixed replica count."""
    problems = []
    deployments = [item for item in workloads(objects) if item.long_running]
    all_pods = workloads(objects)
    for item in deployments:
        own = item.obj["spec"]["selector"].get("matchLabels", {})
        if not selects(own, item.labels):
            problems.append(f"{item.name}: its selector {own} does not select its own pods")
        overlapping = [other.name for other in all_pods if other.name != item.name and selects(own, other.labels)]
        if overlapping:
            problems.append(f"{item.name}: its selector also selects the pods of {overlapping}")
        budgets = [
            pdb
            for pdb in of_kind(objects, "PodDisruptionBudget")
            if selects(pdb["spec"]["selector"].get("matchLabels", {}), item.labels)
        ]
        if len(budgets) != 1:
            problems.append(f"{item.name}: {len(budgets)} PodDisruptionBudgets select its pods, expected 1")
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        chosen = [
            item.name for item in all_pods if selects(pdb["spec"]["selector"].get("matchLabels", {}), item.labels)
        ]
        if len(chosen) != 1 or not chosen[0].startswith("Deployment/"):
            problems.append(f"{name_of(pdb)}: selects the pods of {chosen}, expected exactly one Deployment")
    for service in of_kind(objects, "Service"):
        chosen = [item for item in all_pods if selects(service["spec"].get("selector", {}), item.labels)]
        if not chosen:
            problems.append(f"{name_of(service)}: selects no pods")
        for item in chosen:
            declared = {p.get("name") for c in item.pod["containers"] for p in c.get("ports", [])}
            declared |= {p["containerPort"] for c in item.pod["containers"] for p in c.get("ports", [])}
            problems += [
                f"{name_of(service)}: targetPort {port['targetPort']} is not a port of {item.name}"
                for port in service["spec"]["ports"]
                if port["targetPort"] not in declared
            ]
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        found = [
            item
            for item in deployments
            if item.obj["metadata"]["name"] == target["name"] and target["kind"] == "Deployment"
        ]
        if not found:
            problems.append(f"{name_of(hpa)}: scales {target['kind']}/{target['name']}, which is not rendered")
        elif "replicas" in found[0].obj["spec"]:
            problems.append(f"{name_of(hpa)}: {found[0].name} also fixes replicas, which every apply resets")
    return problems


def mounted_secrets(objects: Sequence[Object]) -> list[str]:
    """Each `CRUNCAN_..._FILE` variable points at a mounted Secret key; a rendered Secret holds every
    key mounted from it; only the migration reads the schema owner's credentials."""
    problems = []
    secrets = {obj["metadata"]["name"]: secret_keys(obj) for obj in of_kind(objects, "Secret")}
    for item in workloads(objects):
        for container in item.containers:
            where = f"{item.name} container {container['name']}"
            mounts = {path: (secret, key) for path, secret, key in secret_mounts(item, container)}
            for name, value in file_env(container).items():
                if value not in mounts:
                    problems.append(f"{where}: {name} reads {value}, which no Secret volume mounts")
            for secret, key in mounts.values():
                if secret in secrets and key not in secrets[secret]:
                    problems.append(f"{where}: mounts key {key} that Secret {secret} does not hold")
                if key == "postgres-owner-dsn" and command_of(container) != "migrate":
                    problems.append(f"{where}: mounts the schema owner's credentials (only the migration may)")
    return problems


INVARIANTS: tuple[Invariant, ...] = (
    pinned_images,
    resources,
    locked_down,
    probes,
    pod_ip,
    bounded_jobs,
    termination_grace,
    served_pods_pause,
    selectors,
    mounted_secrets,
)


def problems_of(objects: Sequence[Object]) -> list[str]:
    return [problem for invariant in INVARIANTS for problem in invariant(objects)]
