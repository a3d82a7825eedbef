"""The demo's stand-in identity provider: one RSA key made at start, published as a JWKS, and tokens
signed with it, so `cruncan demo --auth` runs authentication end to end with nothing else to set up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from domain.model.principal import READ_SCOPE, SUBMIT_SCOPE

JWKS_PATH = "/.well-known/jwks.json"
AUDIENCE = "cruncan"
ALGORITHM = "RS256"
DEMO_SUBJECT = "demo-user"
TOKEN_LIFETIME_S = 3600


class DemoIssuer:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self._kid, "alg": ALGORITHM, "use": "sig"}]}

    def mint(self, issuer: str, subject: str = DEMO_SUBJECT, scopes: str = f"{SUBMIT_SCOPE} {READ_SCOPE}") -> str:
        """A token for `subject` with `scopes`, valid for an hour, from `issuer` to cruncan."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            "scope": scopes,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})


def tokens_for(enabled: bool, identity: DemoIssuer, issuer: str) -> Callable[[], str | None]:
    """What mints a token for the demo's own clients (the page, the printed examples): a new one from
    `identity` as `issuer` at each call when authentication is `enabled`, else none."""
    if not enabled:
        return lambda: None
    return lambda: identity.mint(issuer=issuer)
