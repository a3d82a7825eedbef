import pytest

from tests.deployment import ROOT
from tests.deployment.compose import ComposeService, compose_services


@pytest.fixture(scope="session")
def services() -> dict[str, ComposeService]:
    """The services of the root docker-compose.yml (and the files it includes), by name."""
    return compose_services(ROOT / "docker-compose.yml")
