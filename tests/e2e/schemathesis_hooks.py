"""schemathesis hooks for tests/e2e/test_api_schemathesis.py, loaded by the CLI (SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import schemathesis

from domain.model.idempotency import KEY_MAX, KEY_PATTERN

VALID_KEY = re.compile(KEY_PATTERN)
_counter = itertools.count()


@schemathesis.hook
def before_call(context: object, case: schemathesis.Case, **kwargs: Any) -> None:
    """Generated keys repeat across cases with other bodies, which the API rightly refuses (422):
    each valid key gets a prefix of its own, and stays valid. Invalid keys are left to be refused."""
    key = (case.headers or {}).get("Idempotency-Key")
    if case.headers is not None and isinstance(key, str) and VALID_KEY.search(key):
        case.headers["Idempotency-Key"] = f"{next(_counter)}-{key}"[:KEY_MAX].rstrip()
