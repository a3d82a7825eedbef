"""Rules read off the syntax tree of the code: what the core may import, how long files and functions may be."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN_MODULES = ("queue", "socket", "concurrent", "asyncio", "multiprocessing", "selectors", "_thread", "time")
"""The loops own time, threads and sockets; the core receives a clock (`ports.clock`)."""
ALLOWED_FROM_THREADING = {"Lock", "RLock"}
"""Mutual exclusion only (the ID generator, the token cache): no threads, events or conditions."""

MAX_DOMAIN_FILE_LINES = 150
MAX_FUNCTION_LINES = 39


def python_files(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def concurrency_violations(source: str) -> list[str]:
    """What in `source` starts threads, sleeps, waits on events or opens sockets, each with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if _forbidden(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module == "threading":
                found += [
                    f"line {node.lineno}: from threading import {a.name}"
                    for a in node.names
                    if a.name not in ALLOWED_FROM_THREADING
                ]
        elif _threading_attribute(node) not in (None, *ALLOWED_FROM_THREADING):
            found.append(f"line {node.lineno}: threading.{_threading_attribute(node)}")
    return found


def _threading_attribute(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "threading":
        return node.attr
    return None


def _forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN_MODULES)


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method in `source` longer than `limit` lines, with its length."""
    return [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > limit
    ]
