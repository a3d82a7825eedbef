"""The real Redis server: check that it is there, and give each test keys of its own.

`CRUNCAN_TEST_REDIS_URL` names it (default: redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import os
import uuid

import redis

from harness.errors import ServerUnavailable

REDIS_URL = os.environ.get("CRUNCAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_COMMAND = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379"


def require_server(url: str = REDIS_URL) -> str:
    """`url` if its server answers PING; raises `ServerUnavailable` saying how to start it otherwise."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServerUnavailable(
            f"Redis is missing: cannot reach {url} ({exc}). Start it with: {START_COMMAND}"
        ) from exc
    finally:
        client.close()
    return url


def client(url: str = REDIS_URL) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


def fresh_key(purpose: str) -> str:
    """A key no other test uses."""
    return f"cruncan-test:{purpose}:{uuid.uuid4().hex[:12]}"
