from typing import Protocol

from domain.model.message import ThreeRequest
from domain.model.token import AccessToken


class ThirdPartyClient(Protocol):
    """Delivers requests to the third party, which drops duplicates of a request ID.

    `send` returns once the third party accepted the request. Otherwise it raises
    `ThirdPartyUnavailable` (sending again later may succeed; honour its `retry_after`),
    `ThirdPartyUnauthorized` (the token was rejected) or `ThirdPartyRejected` (never resend).
    """

    def send(self, request: ThreeRequest, token: AccessToken) -> None: ...
