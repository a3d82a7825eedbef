"""Waiting for an outcome by polling it with a deadline, never by sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, timeout_s: float = 30.0) -> T:
    """The first truthy result of `check`, polled until `timeout_s`; an AssertionError naming `what` if none comes."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s (last seen: {result!r})")
        time.sleep(0.05)
