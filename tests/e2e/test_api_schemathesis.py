"""schemathesis, driven by the API's own OpenAPI document, against `cruncan api` on Postgres: every
answer matches the document, nothing is a 5xx, data the document calls valid is accepted and data it
calls invalid is refused. Its CLI runs every phase (examples, coverage, fuzzing, stateful)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, RunningCommand

pytestmark = pytest.mark.postgres

SEED = 20_261_201
EXAMPLES_PER_OPERATION = 40
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_the_live_api_keeps_its_openapi_document(
    cruncan: Callable[..., RunningCommand], clean_postgres: str, tmp_path: Path
) -> None:
    api = cruncan(
        "api",
        "--port",
        "0",
        "--set",
        "relay.embedded=false",
        env={"CRUNCAN_STORAGE__BACKEND": "postgres", "CRUNCAN_STORAGE__POSTGRES__DSN": clean_postgres},
    )
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{api.url()}/openapi.json",
            "--checks=all",
            f"--seed={SEED}",
            f"--max-examples={EXAMPLES_PER_OPERATION}",
            "--workers=1",
            "--request-timeout=10",
            "--no-color",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
    assert api.terminate() == 0
