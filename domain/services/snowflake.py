from __future__ import annotations

import threading

from domain.model import snowflake
from domain.model.errors import ClockMovedBackwards
from ports.clock import Clock


class SnowflakeIdGenerator:
    """Thread-safe Snowflake IDs for one node.

    When the 64 IDs of a millisecond are used up it waits for the next millisecond.
    When the clock steps backwards it waits for it to catch up with the last issued
    timestamp, up to `backwards_tolerance_ms`; a larger step raises
    `ClockMovedBackwards` rather than risk a duplicate.
    """

    def __init__(self, clock: Clock, node: int, backwards_tolerance_ms: int = 1_000) -> None:
        if not 0 <= node <= snowflake.MAX_NODE:
            raise ValueError(f"node {node} is outside 0..{snowflake.MAX_NODE}")
        self._clock = clock
        self._node = node
        self._tolerance_ms = backwards_tolerance_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    @property
    def node(self) -> int:
        return self._node

    def next_id(self) -> str:
        with self._lock:
            now_ms = self._now_ms()
            if now_ms < self._last_ms:
                now_ms = self._wait_until(self._last_ms, now_ms)
            if now_ms == self._last_ms:
                self._sequence = (self._sequence + 1) & snowflake.MAX_SEQUENCE
                if self._sequence == 0:
                    now_ms = self._wait_until(self._last_ms + 1, now_ms)
            else:
                self._sequence = 0
            self._last_ms = now_ms
            return snowflake.encode(snowflake.SnowflakeParts(now_ms, self._node, self._sequence))

    def _now_ms(self) -> int:
        return snowflake.milliseconds_since_epoch(self._clock.now())

    def _wait_until(self, target_ms: int, now_ms: int) -> int:
        behind = self._last_ms - now_ms
        if behind > self._tolerance_ms:
            raise ClockMovedBackwards(behind, self._tolerance_ms)
        while now_ms < target_ms:
            self._clock.sleep((target_ms - now_ms) / 1000)
            now_ms = self._now_ms()
            if self._last_ms - now_ms > self._tolerance_ms:
                raise ClockMovedBackwards(self._last_ms - now_ms, self._tolerance_ms)
        return now_ms
