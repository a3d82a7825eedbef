"""What the image installs is pinned: the lock file's hashes, the base image's digest, psycopg2 from source,
and the WireMock the tests run is the one Compose runs, by major version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from wiremock.server.server import WireMockServer

from tests.deployment.compose import compose_services
from tests.deployment.dockerfile import build_args, final_stage
from tests.deployment.dockerfile import stages as dockerfile_stages

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """Package → (version, hashes), from the lock file's `name==version \\ --hash=...` entries."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in LOCK.read_text().splitlines():
        if match := REQUIREMENT.match(line):
            current = normalised(match["name"])
            entries[current] = (match["version"], [])
        elif (stripped := line.strip()).startswith("--hash=sha256:") and current:
            entries[current][1].append(stripped.removesuffix("\\").strip())
    return entries


def pinned_dependencies() -> dict[str, str]:
    pins = {}
    for requirement in PYPROJECT["project"]["dependencies"]:
        name, sep, version = requirement.partition("==")
        assert sep, f"pyproject dependency {requirement!r} is not pinned to one version"
        pins[normalised(name.partition("[")[0])] = version.strip()
    return pins


def test_the_lock_file_holds_every_production_dependency_at_its_pinned_version():
    entries = locked()
    for name, version in pinned_dependencies().items():
        assert name in entries, f"{name} is a dependency in pyproject.toml but not in {LOCK.name}: run `make lock`"
        assert entries[name][0] == version, f"{LOCK.name} pins {name} {entries[name][0]}, pyproject.toml {version}"


def test_every_locked_package_carries_at_least_one_sha256_hash():
    for name, (version, hashes) in locked().items():
        assert hashes, f"{name}=={version} has no hash in {LOCK.name}"
        assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", entry) for entry in hashes), name


def test_the_lock_file_leaves_the_dev_toolchain_out():
    dev = {
        normalised(requirement.partition("==")[0])
        for requirement in PYPROJECT["project"]["optional-dependencies"]["dev"]
    }

    assert not dev & set(locked()), f"{LOCK.name} holds dev tools {sorted(dev & set(locked()))}"


def test_psycopg2_is_the_source_package_not_the_binary_wheel():
    assert "psycopg2" in pinned_dependencies()
    assert "psycopg2-binary" not in pinned_dependencies()
    assert "psycopg2-binary" not in locked()


def run_commands(stage: list) -> str:
    return " ".join(instruction.arguments for instruction in stage if instruction.keyword == "RUN")


def test_the_image_installs_only_hash_checked_requirements_from_the_lock_file():
    build = dockerfile_stages()[0]
    commands = run_commands(build)

    assert re.search(rf"pip install --require-hashes [^&;]*--requirement {LOCK.name}", commands), commands
    assert re.search(r"pip install --no-deps \.", commands), "the project itself must not pull unpinned dependencies"


def test_psycopg2_compiles_in_the_build_stage_and_runs_on_libpq_alone():
    build, runtime = dockerfile_stages()[0], final_stage()

    assert re.search(r"apt-get install [^&;]*\blibpq-dev\b", run_commands(build))
    assert re.search(r"apt-get install [^&;]*\bgcc\b", run_commands(build))
    assert "--no-binary psycopg2" in run_commands(build)
    assert re.search(r"apt-get install [^&;]*\blibpq5\b", run_commands(runtime))
    assert "libpq-dev" not in run_commands(runtime)
    assert "gcc" not in run_commands(runtime)


def test_every_stage_starts_from_a_base_pinned_by_digest():
    args = build_args()
    aliases: set[str] = set()
    for stage in dockerfile_stages():
        image, *alias = stage[0].arguments.split()
        image = re.sub(r"\$\{(\w+)\}", lambda match: args[match[1]], image)
        if image not in aliases:
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{image} is not pinned by digest"
        aliases.update(alias[1:])


def wiremock_major(version: str) -> int:
    return int(version.split(".", maxsplit=1)[0])


def test_the_tests_and_compose_run_the_same_major_version_of_wiremock():
    jar = Path(str(WireMockServer.DEFAULT_JAR)).name
    tested = re.fullmatch(r"wiremock-standalone-(\d+\.\d+\.\d+)\.jar", jar)
    image = compose_services(ROOT / "docker-compose.yml")["wiremock"].spec["image"]
    name, _, tag = image.partition(":")

    assert tested, f"cannot read the version of the tests' WireMock from {jar}"
    assert name == "wiremock/wiremock"
    assert wiremock_major(tag) == wiremock_major(tested[1]), f"compose runs WireMock {tag}, the tests {tested[1]}"
