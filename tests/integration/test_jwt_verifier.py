"""PyJwtTokenVerifier against a JWKS served over real HTTP: every attack on the token is refused, and the key
set is fetched as seldom as its contract says, whatever tokens arrive and whether or not the server is up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from adapters.auth.jwks import JwksKeys
from adapters.auth.verifier import PyJwtTokenVerifier
from domain.model.errors import Unauthenticated, VerificationUnavailable
from domain.model.principal import Principal
from harness.jwks import AUDIENCE, ISSUER, JwksServer, claims, ec_key, from_now, hmac_signed_with, rsa_key, unsigned

ALGORITHMS = ("RS256", "ES256")
RSA = rsa_key("rsa-1")
EC = ec_key("ec-1")


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer([RSA, EC]) as server:
        yield server


def verifier_for(jwks: JwksServer, lifespan_s: float = 300, cooldown_s: float = 60) -> PyJwtTokenVerifier:
    keys = JwksKeys(jwks.url, lifespan_s=lifespan_s, cooldown_s=cooldown_s, timeout_s=2)
    return PyJwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=ALGORITHMS, leeway_s=5)


@pytest.fixture
def verifier(jwks: JwksServer) -> PyJwtTokenVerifier:
    return verifier_for(jwks)


def refusal(verifier: PyJwtTokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    return refused.value.reason


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
def test_a_token_signed_by_a_key_of_the_jwks_gives_its_subject_and_scopes(verifier, key):
    assert verifier.verify(key.sign(claims(subject="alice", scope="one:read"))) == Principal(
        "alice", frozenset({"one:read"})
    )


def test_scopes_may_come_as_an_scp_list(verifier):
    token = RSA.sign(claims(scope=None, scp=["one:write", "one:read"]))

    assert verifier.verify(token).scopes == {"one:write", "one:read"}


def test_an_audience_list_holding_ours_is_accepted(verifier):
    assert verifier.verify(RSA.sign(claims(aud=["other", AUDIENCE]))).subject == "user-1"


def test_alg_none_is_refused(verifier):
    assert "algorithm" in refusal(verifier, unsigned(claims(), kid=RSA.kid))


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_an_hmac_token_keyed_with_the_public_key_is_refused(verifier, algorithm):
    forged = hmac_signed_with(RSA.public_pem, claims(), kid=RSA.kid, algorithm=algorithm)

    assert "algorithm" in refusal(verifier, forged)


def test_an_allowed_algorithm_that_does_not_suit_the_key_is_refused(verifier):
    other_ec = ec_key(RSA.kid)  # an ES256 token naming the RSA key

    assert refusal(verifier, other_ec.sign(claims())) == "the token's algorithm does not suit its key"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": from_now(-60)}, "the token has expired"),
        ({"nbf": from_now(600)}, "the token is not valid yet"),
        ({"iat": from_now(600)}, "the token is not valid yet"),
        ({"aud": "another-service"}, "the token is not meant for this audience"),
        ({"aud": ["another-service"]}, "the token is not meant for this audience"),
        ({"iss": "https://evil.test/"}, "the token comes from another issuer"),
        ({"exp": None}, "the token lacks a required claim: exp"),
        ({"iat": None}, "the token lacks a required claim: iat"),
        ({"iss": None}, "the token lacks a required claim: iss"),
        ({"aud": None}, "the token lacks a required claim: aud"),
        ({"sub": None}, "the token lacks a required claim: sub"),
        ({"sub": ""}, "the token's subject must be 1 to 256 printable characters, not only spaces"),
        ({"sub": "x" * 257}, "the token's subject must be 1 to 256 printable characters, not only spaces"),
        ({"sub": 42}, "the token is not valid"),
    ],
)
def test_a_token_breaking_a_claim_rule_is_refused(verifier, overrides, reason):
    assert refusal(verifier, RSA.sign(claims(**overrides))) == reason


def test_an_expiry_within_the_leeway_is_still_accepted(verifier):
    assert verifier.verify(RSA.sign(claims(exp=int(time.time()) - 2))).subject == "user-1"


def test_a_bad_signature_is_refused(verifier):
    impostor = rsa_key(RSA.kid)  # another key, claiming the JWKS key's ID
    header, payload, _ = RSA.sign(claims()).split(".")
    tampered = ".".join([header, payload, impostor.sign(claims()).split(".")[2]])

    assert refusal(verifier, impostor.sign(claims())) == "the token's signature does not verify"
    assert refusal(verifier, tampered) == "the token's signature does not verify"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 9000, "é.é.é", "eyJhbGciOiJSUzI1NiJ9.e30."])
def test_garbage_is_refused_without_a_fetch(jwks, verifier, token):
    refusal(verifier, token)

    assert jwks.fetches == 0


def test_a_flood_of_unknown_kids_costs_one_fetch(jwks, verifier):
    verifier.verify(RSA.sign(claims()))
    for _ in range(100):
        stranger = ec_key(uuid.uuid4().hex)
        assert "key ID" in refusal(verifier, stranger.sign(claims()))

    assert jwks.fetches == 1, "the first fetch; unknown kids within the cooldown fetch nothing more"


def test_after_the_cooldown_an_unknown_kid_fetches_once_more(jwks):
    verifier = verifier_for(jwks, cooldown_s=0.2)
    verifier.verify(RSA.sign(claims()))
    time.sleep(0.25)
    for _ in range(20):
        refusal(verifier, ec_key().sign(claims()))

    assert jwks.fetches == 2


def test_rotation_picks_up_a_new_key_and_drops_a_retired_one(jwks):
    verifier = verifier_for(jwks, lifespan_s=0.4, cooldown_s=0.2)
    assert verifier.verify(RSA.sign(claims())).subject == "user-1"
    rotated = rsa_key("rsa-2")
    jwks.keys = [rotated, EC]

    time.sleep(0.25)
    assert verifier.verify(rotated.sign(claims(subject="after-rotation"))).subject == "after-rotation"
    time.sleep(0.45)
    assert "key ID" in refusal(verifier, RSA.sign(claims()))


def test_keys_keep_verifying_while_the_jwks_server_is_down(jwks):
    verifier = verifier_for(jwks, lifespan_s=0.2, cooldown_s=0.2)
    verifier.verify(RSA.sign(claims()))
    jwks.down()
    time.sleep(0.25)

    for _ in range(10):
        assert verifier.verify(EC.sign(claims(subject="during-outage"))).subject == "during-outage"
        assert "key ID" in refusal(verifier, ec_key().sign(claims()))
    jwks.up()
    assert jwks.fetches == 1


def test_with_no_keys_ever_fetched_verification_is_unavailable(jwks):
    jwks.down()
    verifier = verifier_for(jwks)

    with pytest.raises(VerificationUnavailable):
        verifier.verify(RSA.sign(claims()))


def test_a_symmetric_or_unknown_algorithm_cannot_be_configured(jwks):
    keys = JwksKeys(jwks.url, lifespan_s=1, cooldown_s=1, timeout_s=1)
    for algorithms in (["HS256"], ["none"], [], ["RS256", "HS512"]):
        with pytest.raises(ValueError, match="asymmetric"):
            PyJwtTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms, leeway_s=0)
