"""Bearer authentication on OneService, through a real channel, against a JWKS over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from entrypoints.grpc.gen import one_pb2
from harness.jwks import AUDIENCE, ISSUER, JwksServer, claims, ec_key, hmac_signed_with, rsa_key, unsigned
from harness.postgres import query
from tests.component.grpc_world import RunningGrpc, running_grpc, submit_request

pytestmark = [pytest.mark.postgres]

KEY = rsa_key("grpc-auth")


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer([KEY]) as server:
        yield server


@pytest.fixture
def secured(clean_postgres: str, jwks: JwksServer) -> Iterator[RunningGrpc]:
    overrides = [
        "auth.enabled=true",
        f"auth.jwks_url={jwks.url}",
        f"auth.issuer={ISSUER}",
        f"auth.audience={AUDIENCE}",
    ]
    with running_grpc(clean_postgres, *overrides) as running:
        yield running


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def refused(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as failure:
        call(*args, timeout=10, **kwargs)
    return failure.value


def test_a_valid_token_submits_and_get_shows_who_submitted(secured):
    token = KEY.sign(claims(subject="bob"))

    request_id = secured.stub.Submit(submit_request(), metadata=bearer(token), timeout=10).request_id
    found = secured.stub.Get(one_pb2.GetRequest(request_id=request_id), metadata=bearer(token), timeout=10)

    assert found.submitted_by == "bob"
    assert query(secured.dsn, "SELECT submitted_by FROM request") == [("bob",)]


@pytest.mark.parametrize(
    ("metadata", "details"),
    [
        ((), "a bearer token is required in the authorization metadata"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "a bearer token is required in the authorization metadata"),
        (bearer(KEY.sign(claims(exp=1))), "the token has expired"),
        (bearer(KEY.sign(claims(iss="https://evil.test/"))), "the token comes from another issuer"),
        (bearer(unsigned(claims(), KEY.kid)), "the token's algorithm is not one of ES256, RS256"),
        (
            bearer(hmac_signed_with(KEY.public_pem, claims(), KEY.kid)),
            "the token's algorithm is not one of ES256, RS256",
        ),
        (bearer(ec_key("someone-else").sign(claims())), "the token's key ID is not among the issuer's signing keys"),
    ],
)
def test_a_missing_or_invalid_token_is_unauthenticated_and_nothing_is_stored(secured, metadata, details):
    error = refused(secured.stub.Submit, submit_request(), metadata=metadata)

    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, details)
    assert secured.stored() == 0


def test_a_token_without_the_scope_is_permission_denied(secured):
    reader, writer = KEY.sign(claims(scope="one:read")), KEY.sign(claims(scope="one:write"))

    submit = refused(secured.stub.Submit, submit_request(), metadata=bearer(reader))
    request_id = secured.stub.Submit(submit_request(), metadata=bearer(writer), timeout=10).request_id
    get = refused(secured.stub.Get, one_pb2.GetRequest(request_id=request_id), metadata=bearer(writer))

    assert (submit.code(), submit.details()) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "the token lacks the scope 'one:write'",
    )
    assert (get.code(), get.details()) == (grpc.StatusCode.PERMISSION_DENIED, "the token lacks the scope 'one:read'")


def test_health_and_reflection_stay_open(secured):
    health = health_pb2_grpc.HealthStub(secured.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    reflection = reflection_pb2_grpc.ServerReflectionStub(secured.channel)
    [listed] = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert "cruncan.one.v1.OneService" in {service.name for service in listed.list_services_response.service}


def test_with_the_jwks_unreachable_and_no_key_known_it_is_unavailable(secured, jwks):
    jwks.down()

    error = refused(secured.stub.Submit, submit_request(), metadata=bearer(KEY.sign(claims())))

    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_without_auth_enabled_nothing_is_asked_and_no_subject_is_recorded(clean_postgres):
    with running_grpc(clean_postgres) as running:
        request_id = running.stub.Submit(submit_request(), timeout=10).request_id
        found = running.stub.Get(one_pb2.GetRequest(request_id=request_id), timeout=10)

    assert not found.HasField("submitted_by")


@pytest.fixture(scope="module")
def secured_once(postgres_dsn: str) -> Iterator[RunningGrpc]:
    with JwksServer([KEY]) as jwks:
        overrides = [
            "auth.enabled=true",
            f"auth.jwks_url={jwks.url}",
            f"auth.issuer={ISSUER}",
            f"auth.audience={AUDIENCE}",
        ]
        with running_grpc(postgres_dsn, *overrides) as running:
            yield running


PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


JWT_SHAPED = st.lists(st.text("abXY-_09=", max_size=40), min_size=2, max_size=4).map(
    lambda parts: "Bearer " + ".".join(parts)
)


@settings(max_examples=150, deadline=None)
@given(
    st.text(PRINTABLE, max_size=300).map(str.strip)
    | st.builds(lambda tail: f"Bearer {tail}", st.text(PRINTABLE, min_size=1, max_size=300))
    | st.builds(
        lambda parts: "Bearer " + ".".join(parts), st.lists(st.text("abXY-_09=", max_size=40), min_size=2, max_size=4)
    )
)
def test_any_authorization_metadata_but_a_valid_token_is_unauthenticated(secured_once, authorization):
    before = secured_once.stored()

    error = refused(secured_once.stub.Submit, submit_request(), metadata=(("authorization", authorization),))

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
    assert secured_once.stored() == before
