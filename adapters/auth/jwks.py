"""Signing keys from a JWKS URL, fetched with PyJWT's `PyJWKClient` and held here, so that an outage of the
JWKS server never takes away keys already known, and no token can make the server fetch more than once per
cooldown."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from jwt import PyJWK, PyJWKClient, PyJWTError

from domain.model.errors import Unauthenticated, VerificationUnavailable

log = logging.getLogger(__name__)


class JwksKeys:
    """The keys of one JWKS, by `kid`: fetched on first use and again once `lifespan_s` has passed; a `kid`
    not among them triggers a fetch only if none was attempted within `cooldown_s` (so a flood of unknown
    kids costs one fetch). A failed fetch keeps the keys already held and is not retried within `cooldown_s`."""

    def __init__(
        self,
        url: str,
        *,
        lifespan_s: float,
        cooldown_s: float,
        timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)  # the caching is done here
        self._url = url
        self._lifespan_s = lifespan_s
        self._cooldown_s = cooldown_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self.fetches = 0

    def key(self, kid: str) -> PyJWK:
        """The signing key `kid`; raises `Unauthenticated` if the JWKS has none by that ID, and
        `VerificationUnavailable` if no key set could ever be fetched."""
        with self._lock:
            now = self._monotonic()
            expired = self._fetched_at is None or now - self._fetched_at >= self._lifespan_s
            if (expired or kid not in self._keys) and self._may_fetch(now):
                self._fetch(now)
            if self._fetched_at is None:
                raise VerificationUnavailable(f"no signing keys could be fetched from {self._url}")
            found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated("the token's key ID is not among the issuer's signing keys")
        return found

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._cooldown_s

    def _fetch(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            keys = self._client.get_signing_keys(refresh=True)
        except (PyJWTError, ValueError) as exc:  # unreachable, not JSON, or no usable keys
            if self._fetched_at is None:
                log.warning("cannot fetch signing keys from %s: %s", self._url, exc)
            else:
                log.warning(
                    "cannot refresh signing keys from %s (keeping %d known): %s", self._url, len(self._keys), exc
                )
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}
        self._fetched_at = now
