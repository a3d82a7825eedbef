from __future__ import annotations

import threading

from domain.model import snowflake
from domain.model.errors import ClockMovedBackwards
from ports.clock import Clock


class SnowflakeIdGenerator:
    """Thread-safe Snowflake IDs for one node, or for one process of several sharing it (`share`).

    When the IDs of a millisecond are used up (64, or the share's part of them) it waits for the next
    millisecond.
    When the clock steps backwards it waits for it to catch up with the last issued
    timestamp, up to `backwards_tolerance_ms`; a larger step raises
    `ClockMovedBackwards` rather than risk a duplicate.
    """

    def __init__(
        self,
        clock: Clock,
        node: int,
        backwards_tolerance_ms: int = 1_000,
        share: snowflake.SequenceShare = snowflake.WHOLE_NODE,
    ) -> None:
        if not 0 <= node <= snowflake.MAX_NODE:
            raise ValueError(f"node {node} is outside 0..{snowflake.MAX_NODE}")
        self._clock = clock
        self._node = node
        self._tolerance_ms = backwards_tolerance_ms
        self._first = share.index
        self._step = share.of
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = share.index

    @property
    def node(self) -> int:
        return self._node

    def next_id(self) -> str:
        with self._lock:
            now_ms = self._now_ms()
            if now_ms < self._last_ms:
                now_ms = self._wait_until(self._last_ms, now_ms)
            if now_ms == self._last_ms:
                self._sequence += self._step
                if self._sequence > snowflake.MAX_SEQUENCE:
                    now_ms = self._wait_until(self._last_ms + 1, now_ms)
                    self._sequence = self._first
            else:
                self._sequence = self._first
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
