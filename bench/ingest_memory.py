"""POST /one on the in-memory mode: requests per second and latency percentiles."""

from __future__ import annotations

import argparse

from bench.load import cruncan, drive, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with cruncan("api", "--set", "relay.embedded=true") as url:
        figures = drive("POST /one (memory)", f"{url}/one", args.concurrency, args.seconds)
    report(f"ingest, in-memory adapters, {args.concurrency} clients, {args.seconds:.0f} s", [figures])


if __name__ == "__main__":
    main()
