"""Compose files read the way Docker Compose reads them, for tests that check them without a Docker engine:
`${VAR:-default}` with VAR unset, included files, and paths relative to the file that names them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

_COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@dataclass(frozen=True)
class ComposeService:
    name: str
    spec: Mapping[str, Any]
    directory: Path

    @property
    def image(self) -> str:
        return str(self.spec.get("image", "")).partition(":")[0]

    @property
    def environment(self) -> dict[str, str]:
        raw = self.spec.get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.partition("=")[::2] for item in raw)
        return {name: "" if value is None else str(value) for name, value in raw.items()}

    @property
    def command(self) -> list[str]:
        raw = self.spec.get("command") or []
        return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]

    @property
    def dependencies(self) -> dict[str, str]:
        raw = self.spec.get("depends_on") or {}
        if isinstance(raw, list):
            return dict.fromkeys(raw, "service_started")
        return {name: (options or {}).get("condition", "service_started") for name, options in raw.items()}

    @property
    def published(self) -> dict[int, tuple[str, int]]:
        """Container port → (host address, host port)."""
        published = {}
        for entry in self.spec.get("ports") or []:
            *host, container = str(entry).split(":")
            address, port = (["0.0.0.0", *host])[-2:] if host else ("0.0.0.0", container)
            published[int(container.partition("/")[0])] = (address, int(port))
        return published

    @property
    def mounts(self) -> dict[str, Path]:
        """Container path → host path, for mounts of a file or folder."""
        found = {}
        for entry in self.spec.get("volumes") or []:
            source, target, *_ = str(entry).split(":")
            if source.startswith((".", "/")):
                found[target.rstrip("/")] = (self.directory / source).resolve()
        return found

    def host_path(self, container_path: str) -> Path:
        """Where on the host a path inside the container comes from; fails if no mount provides it."""
        for target, source in sorted(self.mounts.items(), key=lambda mount: -len(mount[0])):
            if container_path == target or container_path.startswith(f"{target}/"):
                return source / container_path[len(target) :].lstrip("/")
        pytest.fail(f"{self.name} reads {container_path}, which no volume of the service provides")

    def config(self) -> dict[str, Any]:
        """The config file the service's command names, read from the host file mounted there."""
        for argument in self.command:
            name, _, value = argument.partition("=")
            if name.lstrip("-") in {"config", "config.file"}:
                path = self.host_path(value)
                assert path.is_file(), f"{self.name} reads {value}, mounted from {path}, which does not exist"
                return load_yaml(path)
        pytest.fail(f"{self.name}'s command names no config file: {self.command}")


def load_yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def _interpolate(value: Any) -> Any:
    """What Compose makes of `${VAR:-default}` with VAR unset."""
    if isinstance(value, str):
        return _COMPOSE_VARIABLE.sub(lambda match: "$" if match[0] == "$$" else match["default"] or "", value)
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    return value


def compose_services(path: Path) -> dict[str, ComposeService]:
    """The services of a Compose file and of the files it includes, by name; fails on a name defined twice,
    which Compose refuses."""
    found: dict[str, ComposeService] = {}
    for service in _services_in(path):
        assert service.name not in found, f"service {service.name!r} is defined twice; Compose refuses that"
        found[service.name] = service
    return found


def _services_in(path: Path) -> Iterator[ComposeService]:
    document = _interpolate(load_yaml(path))
    for name, spec in (document.get("services") or {}).items():
        yield ComposeService(name, spec, path.parent)
    for entry in document.get("include") or []:
        included = entry if isinstance(entry, str) else entry["path"]
        yield from _services_in(path.parent / included)
