"""What a user would write by hand: Flask, waitress and a psycopg2 pool, one INSERT per request.

It skips everything cruncan adds (validation, Snowflake IDs, the outbox, publishing), so the ratio
between the two is the price of those guarantees, not of the libraries."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from psycopg2.pool import ThreadedConnectionPool
from waitress.server import create_server


def baseline_app(dsn: str, threads: int) -> Flask:
    pool = ThreadedConnectionPool(threads, threads, dsn)
    app = Flask("baseline")

    @app.post("/one")
    def post_one():  # type: ignore[no-untyped-def]
        body = request.get_json()
        request_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        connection = pool.getconn()
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO request (req_id, user_id, created_at, updated_at, req, status)"
                    " VALUES (%s, %s, %s, %s, %s, 'accepted')",
                    (request_id, body["user_id"], now, now, json.dumps(body)),
                )
        finally:
            pool.putconn(connection)
        return jsonify({"request_id": request_id}), 201

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1, help="processes serving one listening socket")
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    print(f"baseline listening on http://127.0.0.1:{listener.getsockname()[1]}", flush=True)
    children: list[int] = []
    for _ in range(args.processes - 1):
        pid = os.fork()
        if pid == 0:  # a child serves; only the parent forks
            children = []
            break
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: _stop(children))
    # Each process opens its own pool after the fork: psycopg2 connections are not shared across processes.
    create_server(baseline_app(args.dsn, args.threads), sockets=[listener], threads=args.threads).run()


def _stop(children: list[int]) -> None:
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    sys.exit(0)


if __name__ == "__main__":
    main()
