"""What a user would write by hand to forward the topic: one message at a time, consume with
confluent-kafka, POST it with urllib3 and a token fetched once and cached, one UPDATE of its status
(psycopg2, autocommit), commit the offset synchronously. No telemetry, retries, dead letters or
concurrency: the price of those is what `bench.forwarding` measures against it.

    python -m bench.bare_forwarder --dsn DSN --bootstrap-servers HOST:PORT --topic T --group G
        --url STAND_IN_URL --client-id ID   (the client secret in BENCH_CLIENT_SECRET)

Prints `assigned` once it holds partitions, then forwards until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal

import psycopg2
import urllib3
from confluent_kafka import Consumer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option in ("--dsn", "--bootstrap-servers", "--topic", "--group", "--url", "--client-id"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.clear())
    http = urllib3.PoolManager(maxsize=1)
    basic = urllib3.util.make_headers(basic_auth=f"{args.client_id}:{os.environ['BENCH_CLIENT_SECRET']}")
    issued = http.request(
        "POST",
        f"{args.url}/v2/oauth/token",
        fields={"grant_type": "client_credentials"},
        headers=basic,
        encode_multipart=False,
    )
    token = json.loads(issued.data)["access_token"]
    database = psycopg2.connect(args.dsn)
    database.autocommit = True
    cursor = database.cursor()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.subscribe([args.topic], on_assign=lambda *_: print("assigned", flush=True))
    try:
        while running:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            document = json.loads(message.value())
            body = {"id": document["request_id"], "metadata": {"source": "bare"}, "one_request": document["request"]}
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": document["request_id"],
            }
            response = http.request("POST", f"{args.url}/three", body=json.dumps(body).encode(), headers=headers)
            if response.status != 200:
                raise SystemExit(f"the third party answered {response.status}: {response.data[:200]!r}")
            cursor.execute(
                "UPDATE request SET status = 'forwarded', updated_at = now() WHERE req_id = %s",
                (document["request_id"],),
            )
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
        database.close()


if __name__ == "__main__":
    main()
