import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["domain", "ports", "adapters", "runtime", "entrypoints"]


@pytest.mark.parametrize("name", PACKAGES)
def test_top_level_packages_come_from_this_repository(name):
    module = importlib.import_module(name)

    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == ROOT / name


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(executable), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": str(executable.parent)},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def copy_of_the_code(tmp_path):
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_contracts_hold_on_the_code_as_it_is(copy_of_the_code):
    result = lint_imports(copy_of_the_code)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("domain/model/request.py", "import flask", "standard library only"),
        ("ports/repository.py", "import peewee", "standard library only"),
        ("domain/model/request.py", "import ports.clock", "entrypoints > runtime > adapters"),
        ("domain/usecases/ingest.py", "import adapters.memory.store", "entrypoints > runtime > adapters"),
        ("adapters/memory/store.py", "import entrypoints.settings", "entrypoints > runtime > adapters"),
        ("domain/usecases/forward.py", "import runtime.consume", "entrypoints > runtime > adapters"),
        ("adapters/memory/consumer.py", "import runtime.offsets", "entrypoints > runtime > adapters"),
        ("runtime/consume.py", "import entrypoints.settings", "entrypoints > runtime > adapters"),
        ("runtime/consume.py", "import adapters.memory.broker", "The runtime knows the ports"),
        ("runtime/relay.py", "import confluent_kafka", "The runtime knows the ports"),
        ("ports/messages.py", "import runtime.offsets", "standard library only"),
        ("domain/usecases/record.py", "import domain.usecases.forward", "No use case imports another use case"),
        ("adapters/memory/broker.py", "import adapters.kafka", "Adapter packages do not know each other"),
        ("entrypoints/api/views.py", "import entrypoints.worker", "Entrypoints do not know each other"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(copy_of_the_code, module, violation, contract):
    path = copy_of_the_code / module
    path.write_text(path.read_text() + f"\n{violation}  # a deliberate violation\n")

    result = lint_imports(copy_of_the_code)

    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert [line for line in broken if contract in line], result.stdout
