from __future__ import annotations

import threading
from datetime import datetime, timedelta

from domain.model.lock import LockState
from ports.clock import Clock
from ports.job_lock import JobLock


class InMemoryLocks:
    """The locks of one process: name -> (holder, expiry); thread-safe."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.held: dict[str, tuple[object, datetime]] = {}


class InMemoryJobLock(JobLock):
    """A lock of `InMemoryLocks`, held for `ttl_s` of `clock` time: it keeps apart the jobs of one process
    (the demo), not separate processes, which rely on Postgres alone."""

    def __init__(self, locks: InMemoryLocks, name: str, ttl_s: float, clock: Clock) -> None:
        self._locks = locks
        self._name = name
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        self._token = object()

    def acquire(self) -> LockState:
        now = self._clock.now()
        with self._locks.mutex:
            holder, expiry = self._locks.held.get(self._name, (None, now))
            if holder is not None and holder is not self._token and expiry > now:
                return LockState.BUSY
            self._locks.held[self._name] = (self._token, now + self._ttl)
            return LockState.HELD

    def renew(self) -> LockState:
        now = self._clock.now()
        with self._locks.mutex:
            holder, expiry = self._locks.held.get(self._name, (None, now))
            if holder is not self._token or expiry <= now:
                return LockState.BUSY
            self._locks.held[self._name] = (self._token, now + self._ttl)
            return LockState.HELD

    def release(self) -> None:
        with self._locks.mutex:
            if self._locks.held.get(self._name, (None, None))[0] is self._token:
                del self._locks.held[self._name]
