"""Whatever token arrives, the verifier accepts it only if a key of the JWKS signed it with an allowed
algorithm and it carries the configured issuer and audience."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.auth.jwks import JwksKeys
from adapters.auth.verifier import PyJwtTokenVerifier
from domain.model.errors import Unauthenticated
from harness.jwks import AUDIENCE, ISSUER, JwksServer, SigningKey, ec_key, hmac_signed_with, rsa_key, unsigned

ALLOWED = ("RS256", "ES256")
PUBLISHED = [rsa_key("published-rsa"), ec_key("published-ec"), rsa_key("published-ps", algorithm="PS256")]
FOREIGN = [rsa_key("published-rsa"), ec_key("published-ec"), rsa_key("foreign-rsa"), ec_key("foreign-ec")]


@dataclass(frozen=True)
class Forged:
    """How a token was made, to judge the verifier's answer against."""

    token: str
    signer: SigningKey | None
    algorithm: str
    claims: dict[str, Any]


@pytest.fixture(scope="module")
def verifier() -> Iterator[PyJwtTokenVerifier]:
    with JwksServer(PUBLISHED) as jwks:
        keys = JwksKeys(jwks.url, lifespan_s=300, cooldown_s=300, timeout_s=2)
        yield PyJwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=ALLOWED, leeway_s=5)


TIME_CLAIMS = ("iat", "exp", "nbf")
# Times are offsets from the moment a token is drawn: a token made at collection time would have
# expired by the time a long suite reaches this test, and the property would pass on refusals alone.
VALID: dict[str, Any] = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "sub": "user-1",
    "iat": 0,
    "exp": 600,
    "scope": "one:write",
}
CORRUPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "iss": st.sampled_from(["https://evil.test/", ISSUER.rstrip("/"), "", ISSUER.upper()]),
    "aud": st.sampled_from(["other", [AUDIENCE], ["other"], [], AUDIENCE.upper(), [AUDIENCE, "other"]]),
    "sub": st.sampled_from(["", "x" * 300, "user-2", "user\x00", "user\n2"]) | st.text(max_size=10),
    "iat": st.integers(-3600, 3600),
    "exp": st.integers(-3600, 3600),
    "nbf": st.integers(-3600, 3600),
}


@st.composite
def claim_values(draw: st.DrawFn) -> dict[str, Any]:
    """Valid claims, with a few of them changed or dropped (often none)."""
    body = dict(VALID)
    for name in draw(st.sets(st.sampled_from(sorted(CORRUPTIONS)), max_size=2) | st.just(set())):
        body[name] = draw(CORRUPTIONS[name])
    for name in draw(st.sets(st.sampled_from(sorted(VALID)), max_size=1) | st.just(set())):
        body.pop(name)
    now = int(time.time())
    return {
        name: now + value if name in TIME_CLAIMS and isinstance(value, int) else value for name, value in body.items()
    }


@st.composite
def forged_tokens(draw: st.DrawFn) -> Forged:
    body = draw(claim_values())
    how = draw(st.sampled_from(["published", "published", "published", "foreign", "none", "hmac-public-key"]))
    if how == "published":
        signer = draw(st.sampled_from(PUBLISHED))
        return Forged(signer.sign(body), signer, signer.algorithm, body)
    if how == "foreign":
        signer = draw(st.sampled_from(FOREIGN))
        kid = draw(st.sampled_from([signer.kid, *(key.kid for key in PUBLISHED)]))
        return Forged(signer.sign(body, kid=kid), signer, signer.algorithm, body)
    kid = draw(st.sampled_from([key.kid for key in PUBLISHED]))
    if how == "none":
        return Forged(unsigned(body, kid), None, "none", body)
    published = next(key for key in PUBLISHED if key.kid == kid)
    return Forged(hmac_signed_with(published.public_pem, body, kid), None, "HS256", body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forged_tokens())
def test_only_a_published_key_with_an_allowed_algorithm_and_our_issuer_and_audience_gets_through(verifier, forged):
    try:
        principal = verifier.verify(forged.token)
    except Unauthenticated:
        return
    assert forged.signer in PUBLISHED, "signed by a key of the JWKS"
    assert forged.algorithm in ALLOWED
    assert forged.claims["iss"] == ISSUER
    audience = forged.claims["aud"]
    assert audience == AUDIENCE or (isinstance(audience, list) and AUDIENCE in audience)
    assert principal.subject == forged.claims["sub"]
    assert principal.subject.isprintable(), "no NUL or control characters reach the store or the logs"
    event("accepted")
