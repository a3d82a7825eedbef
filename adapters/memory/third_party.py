"""Stand-ins for the token API and the third party, for the demo (which serves them over HTTP)
and for unit tests. Both are thread-safe and can be told to fail."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from datetime import timedelta

from domain.model.errors import ThirdPartyError, ThirdPartyUnauthorized, ThirdPartyUnavailable, TokenUnavailable
from domain.model.message import ThreeRequest
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.third_party import ThirdPartyClient
from ports.tokens import TokenClient


class InMemoryTokenIssuer(TokenClient):
    """Issues random bearer tokens that expire `lifetime_s` after issue, by `clock`."""

    def __init__(self, clock: Clock, *, lifetime_s: float = 3600.0, latency_s: float = 0.0) -> None:
        self._clock = clock
        self._lifetime = timedelta(seconds=lifetime_s)
        self._latency_s = latency_s
        self._lock = threading.Lock()
        self._issued: dict[str, AccessToken] = {}
        self._failures: deque[TokenUnavailable] = deque()
        self._fetches = 0

    def fetch(self) -> AccessToken:
        if self._latency_s > 0:
            time.sleep(self._latency_s)
        with self._lock:
            self._fetches += 1
            if self._failures:
                raise self._failures.popleft().with_traceback(None)
            token = AccessToken(secrets.token_urlsafe(24), "Bearer", self._clock.now() + self._lifetime)
            self._issued[token.value] = token
            return token

    def fail_next(self, times: int = 1, error: TokenUnavailable | None = None) -> None:
        """Makes the next `times` fetches raise `error` (by default: the token API is unavailable)."""
        with self._lock:
            self._failures.extend([error or TokenUnavailable("the token API is unavailable")] * times)

    def accepts(self, value: str) -> bool:
        """Whether `value` is a token this issuer issued, has not revoked, and that has not expired."""
        with self._lock:
            token = self._issued.get(value)
            return token is not None and not token.expired(self._clock.now())

    def revoke_all(self) -> None:
        with self._lock:
            self._issued.clear()

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches


class InMemoryThirdParty(ThirdPartyClient):
    """Records every request it accepts, duplicates included. With an `issuer`, it accepts
    only tokens that issuer vouches for, and answers others as unauthorized."""

    def __init__(self, issuer: InMemoryTokenIssuer | None = None, *, latency_s: float = 0.0) -> None:
        self._issuer = issuer
        self._latency_s = latency_s
        self._lock = threading.Lock()
        self._received: list[ThreeRequest] = []
        self._failures: deque[ThirdPartyError] = deque()
        self._attempts = 0

    def send(self, request: ThreeRequest, token: AccessToken) -> None:
        self.receive(request, token.value)

    def receive(self, request: ThreeRequest, bearer: str) -> None:
        """Takes a request as it arrives with the value of its bearer token."""
        if self._latency_s > 0:
            time.sleep(self._latency_s)
        with self._lock:
            self._attempts += 1
            if self._failures:
                raise self._failures.popleft().with_traceback(None)
            if self._issuer is not None and not self._issuer.accepts(bearer):
                raise ThirdPartyUnauthorized("the third party does not accept this access token")
            self._received.append(request)

    def fail_next(self, times: int = 1, error: ThirdPartyError | None = None) -> None:
        """Makes the next `times` requests fail with `error` (by default: the third party is unavailable)."""
        with self._lock:
            self._failures.extend([error or ThirdPartyUnavailable("the third party is unavailable")] * times)

    @property
    def received(self) -> list[ThreeRequest]:
        with self._lock:
            return list(self._received)

    @property
    def attempts(self) -> int:
        """How many requests arrived, accepted or not."""
        with self._lock:
            return self._attempts
