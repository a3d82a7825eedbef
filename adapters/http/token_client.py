from __future__ import annotations

import base64
import json
import math
from datetime import timedelta
from urllib.parse import quote_plus, urlencode

import urllib3

from adapters.http.pool import new_pool_manager
from adapters.http.semantics import is_bearer_token, is_transient, status_line
from domain.model.errors import TokenRefused, TokenUnavailable
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.tokens import TokenClient

ENDPOINT = "/v2/oauth/token"


class Urllib3TokenClient(TokenClient):
    """OAuth2 client credentials grant (RFC 6749 §4.4): `POST {token_url}/v2/oauth/token` with
    the client ID and secret in HTTP Basic authentication. Neither the secret nor an issued
    token ever appears in its errors or its repr."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        clock: Clock,
        *,
        scope: str = "general",
        timeout_s: float = 5.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._url = token_url.rstrip("/") + ENDPOINT
        self._client_id = client_id
        self._clock = clock
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._pool = pool if pool is not None else new_pool_manager(pool_size=1)
        self._body = urlencode({"grant_type": "client_credentials", "scope": scope})
        self._headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Authorization": _basic_authorization(client_id, client_secret),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r}, client_id={self._client_id!r})"

    def fetch(self) -> AccessToken:
        try:
            response = self._pool.request(
                "POST", self._url, body=self._body, headers=self._headers, timeout=self._timeout, retries=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise TokenUnavailable(f"the token API cannot be reached: {exc}") from exc
        if 200 <= response.status < 300:
            return self._token_from(response.data)
        answered = f"the token API answered {status_line(response.status)}{_oauth_error(response.data)}"
        if is_transient(response.status) or not 400 <= response.status < 500:
            raise TokenUnavailable(answered)
        raise TokenRefused(answered)

    def close(self) -> None:
        self._pool.clear()

    def _token_from(self, body: bytes) -> AccessToken:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise TokenUnavailable("the token API answered with a body that is not JSON") from None
        if not isinstance(document, dict):
            raise TokenUnavailable("the token API answered with JSON that is not an object")
        value = document.get("access_token")
        if not isinstance(value, str) or not is_bearer_token(value):
            raise TokenUnavailable("the token API answered without a usable access_token")
        token_type = document.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenUnavailable("the token API answered without token_type Bearer")
        expires_in = _seconds(document.get("expires_in"))
        if expires_in is None:
            raise TokenUnavailable("the token API answered without expires_in as a number of seconds")
        return AccessToken(value, token_type, self._clock.now() + timedelta(seconds=expires_in))


def _basic_authorization(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1: the ID and secret are form-encoded before they are joined and base64-encoded."""
    credentials = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(credentials.encode()).decode("ascii")


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _oauth_error(body: bytes) -> str:
    """The RFC 6749 §5.2 error code, if the body has a well-formed one (never anything else from the body)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    code = document.get("error") if isinstance(document, dict) else None
    if isinstance(code, str) and 0 < len(code) <= 64 and code.replace("_", "").isalpha() and code.isascii():
        return f" ({code})"
    return ""
