from typing import Protocol

from domain.model.token import AccessToken


class TokenClient(Protocol):
    """Asks the token API for a new access token, every call.

    Raises `TokenUnavailable` when none was issued, `TokenRefused` when asking again will not help.
    """

    def fetch(self) -> AccessToken: ...


class TokenProvider(Protocol):
    """An unexpired access token on demand, shared by every caller; safe to call from many threads."""

    def get(self) -> AccessToken:
        """Returns a token that has not expired; raises `TokenUnavailable` when none can be had."""
        ...

    def invalidate(self, token: AccessToken) -> None:
        """Tells that `token` was rejected: no later `get` returns it."""
        ...
