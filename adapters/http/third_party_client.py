from __future__ import annotations

import json

import urllib3

from adapters.http.pool import new_pool_manager
from adapters.http.semantics import is_bearer_token, is_header_safe, is_transient, retry_after_seconds, status_line
from domain.model.errors import ThirdPartyRejected, ThirdPartyUnauthorized, ThirdPartyUnavailable
from domain.model.message import ThreeRequest
from domain.model.token import AccessToken
from ports.clock import Clock
from ports.third_party import ThirdPartyClient

ENDPOINT = "/three"


class Urllib3ThirdPartyClient(ThirdPartyClient):
    """`POST {third_party_url}/three` with the `ThreeRequest` as JSON, the bearer token and the
    request ID as `Idempotency-Key`. 2xx is success; 401 means the token was rejected;
    connection failures, timeouts, 408, 429 and 5xx may pass (with `Retry-After` if given);
    any other status is a refusal."""

    def __init__(
        self,
        third_party_url: str,
        clock: Clock,
        *,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 10.0,
        pool_size: int = 16,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._url = third_party_url.rstrip("/") + ENDPOINT
        self._clock = clock
        self._timeout = urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s)
        self._pool = pool if pool is not None else new_pool_manager(pool_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r})"

    def send(self, request: ThreeRequest, token: AccessToken) -> None:
        if not is_header_safe(request.id):
            raise ThirdPartyRejected("the request ID cannot be sent as an Idempotency-Key header")
        if not is_bearer_token(token.value):
            raise ThirdPartyUnauthorized("the access token cannot be sent as a bearer token")
        body = json.dumps(request.to_json(), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "language": "en",
            "Authorization": f"Bearer {token.value}",
            "Idempotency-Key": request.id,
        }
        try:
            response = self._pool.request(
                "POST", self._url, body=body, headers=headers, timeout=self._timeout, retries=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ThirdPartyUnavailable(f"the third party cannot be reached: {exc}") from exc
        self._classify(response)

    def close(self) -> None:
        self._pool.clear()

    def _classify(self, response: urllib3.BaseHTTPResponse) -> None:
        if 200 <= response.status < 300:
            return
        answered = f"the third party answered {status_line(response.status)}"
        if response.status == 401:
            raise ThirdPartyUnauthorized(answered)
        if is_transient(response.status):
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), self._clock.now())
            raise ThirdPartyUnavailable(answered, retry_after=retry_after)
        raise ThirdPartyRejected(answered)
