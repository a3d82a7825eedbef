"""Every long-running service of docker-compose.yml restarts on failure and says when it is healthy; the
cruncan services' checks ask the endpoints the processes serve, on the ports their settings give."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from entrypoints.settings import load_settings
from tests.deployment.compose import compose_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ONE_SHOT = {"migrate", "redrive", "cleanup"}
OWN = sorted(set(yaml.safe_load(COMPOSE_FILE.read_text())["services"]) - ONE_SHOT)


@pytest.fixture(scope="module")
def services():
    return compose_services(COMPOSE_FILE)


OBSERVABILITY = sorted(yaml.safe_load((ROOT / "observability" / "docker-compose.yml").read_text())["services"])


@pytest.mark.parametrize("name", OWN + OBSERVABILITY)
def test_each_long_running_service_restarts_unless_stopped(services, name):
    assert services[name].spec.get("restart") == "unless-stopped", f"{name} has no `restart: unless-stopped`"


@pytest.mark.parametrize("name", OWN)
def test_each_long_running_service_has_a_health_check(services, name):
    check = services[name].spec.get("healthcheck") or {}

    assert not check.get("disable"), f"{name} disables its health check"
    assert check.get("test"), f"{name} has no health check"


def check_command(services, name: str) -> str:
    return " ".join(services[name].spec["healthcheck"]["test"])


def test_the_worker_check_asks_its_health_server_for_liveness(services, monkeypatch):
    for variable, value in services["worker"].environment.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings(environ=services["worker"].environment)

    assert f"127.0.0.1:{settings.worker.health.port()}/healthz" in check_command(services, "worker")


def test_the_api_check_asks_for_readiness_on_its_port(services):
    settings = load_settings(environ=services["api"].environment)

    assert f"127.0.0.1:{settings.http.port()}/readyz" in check_command(services, "api")


def test_the_one_shot_migration_neither_restarts_nor_is_health_checked(services):
    migrate = services["migrate"].spec

    assert migrate.get("restart") == "no"
    assert (migrate.get("healthcheck") or {}).get("disable") is True
