"""Regenerates the Python code of the `.proto` files into `entrypoints/grpc/gen` (or `--out DIR`).

Run `python proto/generate.py` after editing a `.proto`; a test runs it into a temporary directory and
fails if the committed code differs. protoc writes absolute imports (`from cruncan.one.v1 import ...`);
they are rewritten to the package the code is committed in, so no top-level `cruncan` package is needed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
REPOSITORY = PROTO_ROOT.parent
OUT = REPOSITORY / "entrypoints" / "grpc" / "gen"
PACKAGE = "entrypoints.grpc.gen"
PROTOS = ["cruncan/one/v1/one.proto"]


def generate(out: Path) -> list[Path]:
    """Writes `*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` for each proto, flat in `out`; returns them."""
    out.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="protoc-") as temporary:
        staging = Path(temporary)
        arguments = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={staging}",
            f"--pyi_out={staging}",
            f"--grpc_python_out={staging}",
            *PROTOS,
        ]
        if protoc.main(arguments) != 0:
            raise SystemExit(f"protoc failed on {', '.join(PROTOS)}")
        written = []
        for generated in sorted(staging.rglob("*.py*")):
            target = out / generated.name
            target.write_text(_relocated(generated.read_text()))
            written.append(target)
    return written


def _relocated(code: str) -> str:
    for proto in PROTOS:
        module = proto.removesuffix(".proto").replace("/", ".")
        parent, _, name = module.rpartition(".")
        code = code.replace(f"from {parent} import {name}_pb2", f"from {PACKAGE} import {name}_pb2")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
