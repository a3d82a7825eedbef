"""Faults the demo's visitor can switch on in the stand-in third party, to watch retries, backoff
and dead letters: a share of requests answered 503, a delay before every answer, or a 400 for all."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from domain.model.errors import ThirdPartyRejected, ThirdPartyUnavailable
from domain.model.message import ThreeRequest
from domain.model.token import AccessToken
from ports.third_party import ThirdPartyClient

DELAY_MS_MAX = 5_000
FIELDS = ("unavailable_share", "delay_ms", "reject")


class InvalidFaults(ValueError):
    """Fault settings that cannot be used; `field` names the offending key."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Faults:
    """`unavailable_share` of requests (0 to 1) are answered 503 after `delay_ms`; with `reject`
    every request is answered 400 instead."""

    unavailable_share: float = 0.0
    delay_ms: int = 0
    reject: bool = False

    def to_json(self) -> dict[str, float | int | bool]:
        return asdict(self)


def parse_faults(document: object) -> Faults:
    """Faults from a decoded JSON object; a key left out is off. Raises `InvalidFaults`."""
    if not isinstance(document, dict):
        raise InvalidFaults("body", "must be a JSON object")
    unknown = sorted(str(key) for key in document if key not in FIELDS)
    if unknown:
        raise InvalidFaults(unknown[0], f"is not a fault setting; expected {', '.join(FIELDS)}")
    share = document.get("unavailable_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share):
        raise InvalidFaults("unavailable_share", "must be a number from 0 to 1")
    if not 0 <= share <= 1:
        raise InvalidFaults("unavailable_share", f"must be from 0 to 1, got {share}")
    delay_ms = document.get("delay_ms", 0)
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 0 <= delay_ms <= DELAY_MS_MAX:
        raise InvalidFaults("delay_ms", f"must be a whole number of milliseconds from 0 to {DELAY_MS_MAX}")
    reject = document.get("reject", False)
    if not isinstance(reject, bool):
        raise InvalidFaults("reject", "must be true or false")
    return Faults(unavailable_share=float(share), delay_ms=delay_ms, reject=reject)


class FaultSwitch:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()

    @property
    def faults(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults


class FaultyThirdParty(ThirdPartyClient):
    """`inner`, failing as the `switch` says before each request reaches it."""

    def __init__(
        self,
        inner: ThirdPartyClient,
        switch: FaultSwitch,
        *,
        chance: Callable[[], float] = random.random,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._inner = inner
        self._switch = switch
        self._chance = chance
        self._sleep = sleep

    def send(self, request: ThreeRequest, token: AccessToken) -> None:
        faults = self._switch.faults
        if faults.delay_ms:
            self._sleep(faults.delay_ms / 1000)
        if faults.reject:
            raise ThirdPartyRejected("the stand-in rejects every request (demo fault: reject)")
        if faults.unavailable_share and self._chance() < faults.unavailable_share:
            raise ThirdPartyUnavailable("the stand-in is unavailable (demo fault: unavailable_share)")
        self._inner.send(request, token)
