"""`TokenVerifier` on PyJWT: a JWT is trusted only once its signature checks out against the issuer's JWKS with
an allowed asymmetric algorithm, and its issuer, audience, lifetime and subject are what they must be."""

from __future__ import annotations

from collections.abc import Iterable

import jwt

from adapters.auth.jwks import JwksKeys
from domain.model.errors import Unauthenticated
from domain.model.principal import Principal
from ports.token_verifier import TokenVerifier

ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
SUBJECT_MAX = 256
TOKEN_MAX = 8192


class PyJwtTokenVerifier(TokenVerifier):
    """Checks, in order: the token's size and form; its `alg` against `algorithms` (asymmetric only: never
    `none`, never an HMAC whose secret could be a public key); its `kid` among the JWKS's keys, of a type that
    suits the `alg`; the signature; `exp`, `iat`, `iss`, `aud` and `sub` present, `iss` and `aud` the
    configured ones, `exp`/`nbf`/`iat` within `leeway_s`. Scopes come from `scope` (space-separated) or `scp`."""

    def __init__(
        self, keys: JwksKeys, *, issuer: str, audience: str, algorithms: Iterable[str], leeway_s: float
    ) -> None:
        allowed = frozenset(algorithms)
        if not allowed or not allowed <= ASYMMETRIC:
            raise ValueError(f"algorithms must be asymmetric, from {sorted(ASYMMETRIC)}; got {sorted(allowed)}")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = sorted(allowed)
        self._leeway_s = leeway_s

    def verify(self, token: str) -> Principal:
        if len(token) > TOKEN_MAX:
            raise Unauthenticated(f"the token is longer than {TOKEN_MAX} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not a well-formed JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._algorithms:
            raise Unauthenticated(f"the token's algorithm is not one of {', '.join(self._algorithms)}")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no key ID (kid)")
        key = self._keys.key(kid)
        if key.algorithm_name != algorithm:
            raise Unauthenticated("the token's algorithm does not suit its key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(_reason(exc)) from None
        return Principal(subject=_subject(claims.get("sub")), scopes=_scopes(claims))


def _reason(exc: jwt.PyJWTError) -> str:
    reasons: list[tuple[type[jwt.PyJWTError], str]] = [
        (jwt.ExpiredSignatureError, "the token has expired"),
        (jwt.ImmatureSignatureError, "the token is not valid yet"),
        (jwt.InvalidAudienceError, "the token is not meant for this audience"),
        (jwt.InvalidIssuerError, "the token comes from another issuer"),
        (jwt.MissingRequiredClaimError, f"the token lacks a required claim: {getattr(exc, 'claim', '')}"),
        (jwt.InvalidSignatureError, "the token's signature does not verify"),
    ]
    return next((reason for kind, reason in reasons if isinstance(exc, kind)), "the token is not valid")


def _subject(value: object) -> str:
    """`value` if it can be stored and logged as it is: 1 to `SUBJECT_MAX` printable characters (no NUL, no
    control or line-breaking characters, no lone surrogates), not only spaces."""
    if not isinstance(value, str) or not value.strip() or len(value) > SUBJECT_MAX or not value.isprintable():
        raise Unauthenticated(f"the token's subject must be 1 to {SUBJECT_MAX} printable characters, not only spaces")
    return value


def _scopes(claims: dict[str, object]) -> frozenset[str]:
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scp, list) and all(isinstance(item, str) for item in scp):
        return frozenset(scp)
    return frozenset()
