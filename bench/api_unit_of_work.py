"""`cruncan api` on Postgres with a chosen unit of work: `python -m bench.api_unit_of_work
--unit-of-work batched|atomic --port 0`; prints `listening on URL` and serves until SIGTERM.

`atomic` is the API exactly as `cruncan api` composes it (`PeeweeUnitOfWork` on a
`LazyTransaction`: each statement sent when made, inside peewee's `atomic()`); `batched` swaps
in a `PeeweeUnitOfWork` on a `BatchingTransaction` (writes sent together, one round trip for a
unit that only writes) through the container, nothing else.
Telemetry is off in both: this measures the storage path.
"""

from __future__ import annotations

import argparse
import os
import sys

from dependency_injector import providers

from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.telemetry.providers import Telemetry
from bench.batching_transaction import BatchingTransaction
from entrypoints.api.container import build_container
from entrypoints.api.main import api_services
from entrypoints.lifecycle import run_until_signalled
from entrypoints.settings import load_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unit-of-work", choices=["batched", "atomic"], required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    settings = load_settings(None, os.environ, [f"http.port={args.port}", "storage.backend=postgres"])
    container = build_container(settings, Telemetry.disabled("cruncan-api"))
    if args.unit_of_work == "batched":
        container.storage.unit_of_work.override(
            providers.Factory(PeeweeUnitOfWork, database=container.storage.database, transaction=BatchingTransaction)
        )
    try:
        server, services = api_services(container)
        clean = run_until_signalled(services, on_started=lambda: print(f"listening on {server.url}", flush=True))
    finally:
        container.shutdown_resources()
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
