from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model.errors import TokenRefused, TokenUnavailable
from domain.model.retry import RetryPolicy
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.tokens import TokenClient, TokenProvider

DEFAULT_RETRY = RetryPolicy(base_s=0.1, max_s=5.0, attempts=5)


class TokenCache(TokenProvider):
    """Shares one access token between all callers and fetches a new one only when it is due.

    A token is due `expiry_skew_s` before it expires, or half-way through its lifetime if
    that comes later, so a short-lived token is still reused. When it is due, exactly one
    caller fetches and the others wait for that fetch and share its token or its error.
    A fetch failing with `TokenUnavailable` is tried `retry.attempts` times in all (the only
    layer that retries the token API), sleeping its backoff on the clock in between;
    `TokenRefused` is not tried again.
    """

    def __init__(
        self,
        client: TokenClient,
        clock: Clock,
        *,
        expiry_skew_s: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        if expiry_skew_s < 0:
            raise ValueError(f"expiry skew must not be negative, got {expiry_skew_s}")
        if retry.attempts < 1:
            raise ValueError(f"a fetch needs a limit of at least one attempt, got {retry.attempts}")
        self._client = client
        self._clock = clock
        self._skew_s = expiry_skew_s
        self._retry = retry
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
                if self._retry.exhausted(attempt):
                    raise TokenUnavailable(f"no access token after {attempt} attempts: {exc}") from exc
            self._clock.sleep(self._retry.ceiling(attempt))
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
    """One fetch in progress; whoever asks meanwhile waits for its outcome. A lock held from
    creation until `settle` serves as the latch, so the core needs no `threading.Event`."""

    def __init__(self) -> None:
        self._settled = threading.Lock()
        self._settled.acquire()
        self._outcome: AccessToken | Exception = TokenUnavailable("the token fetch has not finished")

    def settle(self, outcome: AccessToken | Exception) -> None:
        self._outcome = outcome
        self._settled.release()

    def result(self) -> AccessToken:
        with self._settled:
            outcome = self._outcome
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
