"""The image builds from what the repository ships and runs what the CLI and the settings accept."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest

from entrypoints.cli import build_parser
from entrypoints.settings import load_settings
from tests.deployment import ROOT
from tests.deployment.dockerfile import (
    Instruction,
    build_args,
    copied_sources,
    dockerignore_admits,
    final_stage,
    glob_expression,
    only,
    stages,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES = [pattern.rstrip("*.") for pattern in SETUPTOOLS["packages"]["find"]["include"]]


def test_the_image_entrypoint_is_the_console_script_and_its_default_a_subcommand():
    entrypoint = only(final_stage(), "ENTRYPOINT").exec_form
    command = only(final_stage(), "CMD").exec_form

    assert entrypoint[0] in PYPROJECT["project"]["scripts"], f"{entrypoint[0]} is no console script of pyproject"
    assert entrypoint == [entrypoint[0]]
    try:
        build_parser().parse_args(command)
    except SystemExit:
        pytest.fail(f"the image's default command `cruncan {shlex.join(command)}` is rejected by the CLI")


def test_the_image_health_check_asks_the_api_for_healthz_on_its_port():
    shipped = load_settings(environ={})
    check = only(final_stage(), "HEALTHCHECK").arguments
    command = " ".join(Instruction("CMD", check.partition("CMD")[2].strip()).exec_form)

    assert "/healthz" in command
    assert f"'{shipped.http.port()}'" in command, "the health check does not default to the shipped http.port"
    assert "CRUNCAN_HTTP__PORT" in command, "the health check ignores a port moved by CRUNCAN_HTTP__PORT"


def test_the_api_port_is_exposed():
    shipped = load_settings(environ={})
    exposed = {
        int(port)
        for instruction in final_stage()
        if instruction.keyword == "EXPOSE"
        for port in instruction.arguments.split()
    }

    assert shipped.http.port() in exposed, f"the Dockerfile does not EXPOSE the API port {shipped.http.port()}"


def test_the_image_is_built_on_a_python_the_project_supports():
    minimum = tuple(int(part) for part in re.findall(r"\d+", PYPROJECT["project"]["requires-python"]))
    args = build_args()
    earlier: set[str] = set()
    for stage in stages():
        image, *alias = stage[0].arguments.split()
        image = re.sub(r"\$\{(\w+)\}", lambda match: args[match[1]], image)
        if image.startswith("python:"):
            version = tuple(int(part) for part in re.findall(r"\d+", image.partition(":")[2])[:2])
            assert version >= minimum, f"{image} is older than requires-python {minimum}"
        else:
            assert image in earlier, f"a stage is built from {image}, neither a python image nor an earlier stage"
        earlier.update(alias[1:])


def test_the_image_copies_everything_pip_install_needs():
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"], *PACKAGES}

    assert needed <= copied_sources(), f"the Dockerfile does not COPY {sorted(needed - copied_sources())}"


def test_the_build_context_holds_what_the_image_copies_and_leaves_the_rest_out():
    for source in copied_sources():
        assert dockerignore_admits(source), f".dockerignore leaves out {source}, which the Dockerfile copies"
    for unwanted in (".git", ".venv", "tests", "bench", "harness", "domain/__pycache__/model.cpython-311.pyc"):
        assert not dockerignore_admits(unwanted), f".dockerignore lets {unwanted} into the build context"


def test_pip_install_ships_every_data_file_the_packages_hold():
    """The tests run from the source tree; `pip install .` in the image ships only what setuptools finds.
    With `namespaces` on (the default) every folder under an included package is a package too."""
    namespaces = SETUPTOOLS["packages"]["find"].get("namespaces", True)
    package_data = SETUPTOOLS.get("package-data", {})
    unshipped = []
    for top in PACKAGES:
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
            relative = path.relative_to(package).as_posix()
            if not any(glob_expression(pattern).fullmatch(relative) for pattern in patterns):
                unshipped.append(str(path.relative_to(ROOT)))

    assert not unshipped, f"`pip install .` would leave out {unshipped}: add them to [tool.setuptools.package-data]"
