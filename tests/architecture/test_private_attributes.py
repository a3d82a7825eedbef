"""No module reaches into another object's private attributes (`obj._x` where obj is not self or
cls), except the one documented waitress shim: a library upgrade must not break cruncan silently."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ["domain", "ports", "adapters", "entrypoints", "bench", "tests"]
# The one place allowed to read waitress internals; its own test fails when waitress changes them.
ALLOWED_MODULES = {Path("entrypoints/api/waitress_shim.py")}
# Code protoc writes (see proto/generate.py): not ours to change, and checked by its regeneration test.
GENERATED = Path("entrypoints/grpc/gen")
# Underscore names that their libraries document as public, so an upgrade keeps them:
# confluent-kafka's client-side error codes (KafkaError._FAIL, ...), and peewee's Model._meta.
DOCUMENTED = {"KafkaError": "uppercase error codes", "_meta": "peewee model metadata"}


def private_accesses(source: str) -> list[tuple[int, str]]:
    """The line and text of every `obj._name` in `source` whose obj is not self, cls or super()."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
            continue
        if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
            continue
        if _documented(base, node.attr):
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def _documented(base: ast.expr, attribute: str) -> bool:
    if attribute == "_meta":
        return True
    return isinstance(base, ast.Name) and base.id == "KafkaError" and attribute[1:].isupper()


def test_no_module_outside_the_waitress_shim_touches_a_private_attribute() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for package in SCANNED
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT) not in ALLOWED_MODULES and GENERATED not in path.relative_to(ROOT).parents
        for line, text in private_accesses(path.read_text())
    ]
    assert offences == [], "private attributes of other objects:\n" + "\n".join(offences)


def test_the_shim_is_the_module_that_reads_waitress_internals() -> None:
    [shim] = ALLOWED_MODULES
    assert "server._map" in {text for _, text in private_accesses((ROOT / shim).read_text())}


def test_the_scan_finds_private_reads_on_other_objects_and_only_those() -> None:
    source = """
class Pool:
    def lend(self, other, waitress_server):
        self._mine = cls_thing = None
        super()._connect()
        waitress_server._map.clear()
        return other.driver._pool_available, KafkaError._FAIL, model._meta, type(self).__name__
"""
    assert [text for _, text in private_accesses(source)] == ["other.driver._pool_available", "waitress_server._map"]
