"""Who may import the test and benchmark code: the benchmarks and the harness never import the tests,
the harness never imports pytest, and production code imports none of them (an ast scan of each file)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ["domain", "ports", "adapters", "runtime", "entrypoints"]


def imported_roots(source: str) -> set[str]:
    """The top-level package of every module `source` imports (relative imports excluded)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            roots.add(node.module.split(".")[0])
    return roots


def offenders(package: str, forbidden: set[str]) -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if bad := imported_roots(path.read_text()) & forbidden:
            found[str(path.relative_to(ROOT))] = bad
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("bench", {"tests"}),
        ("harness", {"tests", "bench", "pytest", "_pytest"}),
        *[(package, {"tests", "bench", "harness", "pytest"}) for package in PRODUCTION],
    ],
)
def test_a_package_does_not_import_what_it_must_not(package, forbidden):
    assert (ROOT / package).is_dir(), f"{package}/ is missing: the scan would pass on nothing"

    assert offenders(package, forbidden) == {}


@pytest.mark.parametrize(
    "source",
    [
        "import tests.conftest",
        "from tests.unit import recorded_telemetry",
        "import os, tests",
        "def f():\n    from tests.e2e.conftest import ROOT\n",
        "if True:\n    import tests as t\n",
    ],
)
def test_the_scan_sees_an_import_of_the_tests_wherever_it_is(source):
    assert "tests" in imported_roots(source)


@pytest.mark.parametrize("source", ["import testsuite", "from . import tests", "from contests import x", "x = 'tests'"])
def test_the_scan_ignores_what_is_not_an_import_of_the_tests(source):
    assert "tests" not in imported_roots(source)
