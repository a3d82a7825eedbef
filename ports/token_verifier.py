from typing import Protocol

from domain.model.principal import Principal


class TokenVerifier(Protocol):
    """Verifies a bearer token completely (signature, issuer, audience, lifetime) before trusting any claim.

    Raises `Unauthenticated` for a token it refuses, `VerificationUnavailable` when it has no keys to check with.
    """

    def verify(self, token: str) -> Principal: ...
