from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model.errors import TokenRefused, TokenUnavailable
from domain.model.retry import Backoff
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.tokens import TokenClient, TokenProvider


class TokenCache(TokenProvider):
    """Shares one access token between all callers and fetches a new one only when it is due.

    A token is due `expiry_skew_s` before it expires, or half-way through its lifetime if
    that comes later, so a short-lived token is still reused. When it is due, exactly one
    caller fetches and the others wait for that fetch and share its token or its error.
    A fetch failing with `TokenUnavailable` is tried `max_attempts` times in all, sleeping
    an exponential backoff on the clock in between; `TokenRefused` is not tried again.
    """

    def __init__(
        self,
        client: TokenClient,
        clock: Clock,
        *,
        expiry_skew_s: float = 30.0,
        max_attempts: int = 5,
        backoff_base_s: float = 0.1,
        backoff_max_s: float = 5.0,
    ) -> None:
        if expiry_skew_s < 0:
            raise ValueError(f"expiry skew must not be negative, got {expiry_skew_s}")
        if max_attempts < 1:
            raise ValueError(f"a fetch needs at least one attempt, got {max_attempts}")
        self._client = client
        self._clock = clock
        self._skew_s = expiry_skew_s
        self._max_attempts = max_attempts
        self._backoff = Backoff(backoff_base_s, backoff_max_s)
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
        self._flight: _Flight | None = None

    def get(self) -> AccessToken:
        with self._lock:
            cached = self._cached
            if cached is not None and self._clock.now() < cached.refresh_at:
                return cached.token
            flight = self._flight
            leading = flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if leading:
            self._lead(flight)
        return flight.result()

    def invalidate(self, token: AccessToken) -> None:
        with self._lock:
            if self._cached is not None and self._cached.token == token:
                self._cached = None

    def _lead(self, flight: _Flight) -> None:
        outcome: AccessToken | Exception = TokenUnavailable("the token fetch was interrupted")
        try:
            outcome = self._fetch()
        except Exception as exc:
            outcome = exc
        finally:
            with self._lock:
                if isinstance(outcome, AccessToken):
                    self._cached = _Cached(outcome, self._refresh_at(outcome))
                self._flight = None
            flight.settle(outcome)

    def _fetch(self) -> AccessToken:
        attempt = 1
        while True:
            try:
                return self._unexpired_token()
            except TokenRefused:
                raise
            except TokenUnavailable as exc:
                if attempt >= self._max_attempts:
                    raise TokenUnavailable(f"no access token after {attempt} attempts: {exc}") from exc
            self._clock.sleep(self._backoff.ceiling(attempt))
            attempt += 1

    def _unexpired_token(self) -> AccessToken:
        token = self._client.fetch()
        if token.expired(self._clock.now()):
            raise TokenUnavailable("the token API issued a token that had already expired")
        return token

    def _refresh_at(self, token: AccessToken) -> datetime:
        half_life = (token.expires_at - self._clock.now()) / 2
        return max(token.expires_at - half_life, token.expires_at - timedelta(seconds=self._skew_s))


@dataclass(frozen=True)
class _Cached:
    token: AccessToken
    refresh_at: datetime


class _Flight:
    """One fetch in progress; whoever asks meanwhile waits for its outcome."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._outcome: AccessToken | Exception = TokenUnavailable("the token fetch has not finished")

    def settle(self, outcome: AccessToken | Exception) -> None:
        self._outcome = outcome
        self._done.set()

    def result(self) -> AccessToken:
        self._done.wait()
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome
