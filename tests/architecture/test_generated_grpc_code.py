"""The committed gRPC code is what `python proto/generate.py` makes from the committed `.proto` today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "entrypoints" / "grpc" / "gen"


def test_regenerating_the_grpc_code_changes_nothing(tmp_path):
    subprocess.run([sys.executable, "proto/generate.py", "--out", str(tmp_path)], cwd=ROOT, check=True)

    generated = {path.name: path.read_text() for path in tmp_path.iterdir()}
    committed = {
        path.name: path.read_text() for path in COMMITTED.iterdir() if path.name != "__init__.py" and path.is_file()
    }
    assert sorted(generated) == sorted(committed) == ["one_pb2.py", "one_pb2.pyi", "one_pb2_grpc.py"]
    for name, code in generated.items():
        assert committed[name] == code, f"{name} is stale: run `python proto/generate.py` and commit the result"


def test_the_generated_code_imports_from_its_own_package():
    code = (COMMITTED / "one_pb2_grpc.py").read_text()

    assert "from entrypoints.grpc.gen import one_pb2" in code
    assert "from cruncan" not in code
