from __future__ import annotations

import logging

import redis
from redis.exceptions import LockError, RedisError

from domain.model.lock import LockState
from ports.job_lock import JobLock

log = logging.getLogger(__name__)


class RedisJobLock(JobLock):
    """redis-py's `Lock` under `name`: a random token per holder, set only if the key is absent, with a
    TTL of `ttl_s`; renewing and releasing check the token on the server, so only the holder can."""

    def __init__(self, url: str, name: str, ttl_s: float, *, timeout_s: float = 2.0) -> None:
        if ttl_s <= 0:
            raise ValueError(f"a job lock needs a positive TTL, got {ttl_s}")
        self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self._lock = self._client.lock(name, timeout=ttl_s, blocking=False, thread_local=False)
        self._name = name

    def acquire(self) -> LockState:
        try:
            return LockState.HELD if self._lock.acquire(blocking=False) else LockState.BUSY
        except RedisError as exc:
            log.warning("cannot reach Redis for the lock %s: %s", self._name, exc)
            return LockState.UNREACHABLE

    def renew(self) -> LockState:
        try:
            self._lock.reacquire()
        except LockError:
            return LockState.BUSY
        except RedisError as exc:
            log.warning("cannot reach Redis to renew the lock %s: %s", self._name, exc)
            return LockState.UNREACHABLE
        return LockState.HELD

    def release(self) -> None:
        try:
            self._lock.release()
        except LockError:
            log.info("the lock %s had already lapsed or passed to another holder", self._name)
        except RedisError as exc:
            log.warning("cannot reach Redis to release the lock %s (it lapses after its TTL): %s", self._name, exc)

    def close(self) -> None:
        self._client.close()
