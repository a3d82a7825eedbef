"""Bearer authentication on the HTTP API, served by waitress on Postgres, against a JWKS over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.telemetry.providers import Telemetry
from entrypoints.api.container import build_container
from entrypoints.api.main import api_services
from entrypoints.settings import load_settings
from harness.jwks import AUDIENCE, ISSUER, JwksServer, claims, rsa_key, unsigned
from harness.postgres import query
from tests.unit.recorded_telemetry import in_memory_telemetry

pytestmark = [pytest.mark.postgres]

KEY = rsa_key("http-auth")
BODY = {"user_id": "user-1", "prompt": "hello"}


@dataclass
class AuthenticatedApi:
    url: str
    dsn: str
    jwks: JwksServer
    http: urllib3.PoolManager

    def post(
        self, token: str | None = None, body: bytes = json.dumps(BODY).encode(), key: str | None = None
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.http.request("POST", f"{self.url}/one", body=body, headers=headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        return self.http.request("GET", f"{self.url}{path}", headers=headers or {})


def auth_settings(jwks: JwksServer) -> list[str]:
    return [
        "auth.enabled=true",
        f"auth.jwks_url={jwks.url}",
        f"auth.issuer={ISSUER}",
        f"auth.audience={AUDIENCE}",
        "auth.algorithms=RS256,ES256",
    ]


@contextmanager
def authenticated_api(dsn: str, telemetry: Telemetry) -> Iterator[AuthenticatedApi]:
    with JwksServer([KEY]) as jwks:
        settings = load_settings(
            environ={},
            overrides=[
                "http.port=0",
                "http.max_body_bytes=4096",
                "storage.backend=postgres",
                f"storage.postgres.dsn={dsn}",
                "relay.embedded=false",
                *auth_settings(jwks),
            ],
        )
        container = build_container(settings, telemetry)
        server, services = api_services(container)
        for service, _ in services:
            service.start()
        try:
            with urllib3.PoolManager(retries=False, timeout=10) as http:
                yield AuthenticatedApi(server.url, dsn, jwks, http)
        finally:
            for service, timeout_s in reversed(services):
                service.stop(timeout_s)
            container.shutdown_resources()
            container.unwire()


@pytest.fixture
def api(clean_postgres: str) -> Iterator[AuthenticatedApi]:
    with authenticated_api(clean_postgres, Telemetry.disabled("cruncan-api")) as running:
        yield running


def test_a_valid_token_submits_and_the_subject_is_recorded_with_the_request(api):
    token = KEY.sign(claims(subject="alice"))

    created = api.post(token)
    read = api.get(created.headers["Location"], {"Authorization": f"Bearer {token}"})

    assert created.status == 201
    assert read.status == 200
    assert read.json()["submitted_by"] == "alice"
    assert query(api.dsn, "SELECT submitted_by FROM request") == [("alice",)]


def test_two_clients_sending_the_same_idempotency_key_each_get_their_own_request(api):
    alice, bob = KEY.sign(claims(subject="alice")), KEY.sign(claims(subject="bob"))
    other_body = json.dumps({**BODY, "prompt": "bob's own"}).encode()

    first = api.post(alice, key="order-1")
    of_bob = api.post(bob, body=other_body, key="order-1")
    again = api.post(alice, key="order-1")

    assert (first.status, of_bob.status, again.status) == (201, 201, 201), of_bob.data
    assert of_bob.json()["request_id"] != first.json()["request_id"], "bob is neither refused nor handed alice's"
    assert again.json()["request_id"] == first.json()["request_id"]
    assert sorted(query(api.dsn, "SELECT submitted_by FROM request")) == [("alice",), ("bob",)]


def test_no_token_is_401_with_a_bearer_challenge_and_nothing_is_stored(api):
    response = api.post()

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="cruncan"'
    assert response.json() == {"error": "unauthorized", "detail": "a bearer token is required"}
    assert query(api.dsn, "SELECT count(*) FROM request") == [(0,)]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (f"Bearer {KEY.sign(claims(exp=1))}", "the token has expired"),
        (f"Bearer {KEY.sign(claims(aud='elsewhere'))}", "the token is not meant for this audience"),
        (f"Bearer {unsigned(claims(), KEY.kid)}", "the token's algorithm is not one of ES256, RS256"),
        (f"Bearer {rsa_key(KEY.kid).sign(claims())}", "the token's signature does not verify"),
        ("Bearer not-a-jwt", "the token is not a well-formed JWT"),
        ("Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer <token>'"),
        ("Bearer ", "the Authorization header must be 'Bearer <token>'"),
    ],
)
def test_an_invalid_token_is_401_invalid_token_saying_why(api, authorization, reason):
    response = api.http.request(
        "POST",
        f"{api.url}/one",
        body=json.dumps(BODY),
        headers={"Content-Type": "application/json", "Authorization": authorization},
    )

    assert response.status == 401
    assert response.json() == {"error": "invalid_token", "detail": reason}
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="cruncan", error="invalid_token", error_description="{reason}"'
    )
    assert query(api.dsn, "SELECT count(*) FROM request") == [(0,)]


def test_a_token_without_the_scope_is_403_insufficient_scope(api):
    reader, writer = KEY.sign(claims(scope="one:read")), KEY.sign(claims(scope="one:write"))

    post = api.post(reader)
    created = api.post(writer)
    get = api.get(created.headers["Location"], {"Authorization": f"Bearer {writer}"})

    assert (post.status, post.json()["error"]) == (403, "insufficient_scope")
    assert post.headers["WWW-Authenticate"] == 'Bearer realm="cruncan", error="insufficient_scope", scope="one:write"'
    assert created.status == 201
    assert (get.status, get.headers["WWW-Authenticate"]) == (
        403,
        'Bearer realm="cruncan", error="insufficient_scope", scope="one:read"',
    )


def test_a_body_is_not_read_before_the_caller_is_authenticated(api):
    unreadable = b"x" * 4000  # within http.max_body_bytes, so only reading it could refuse it (400)
    response = api.post(body=unreadable)

    assert response.status == 401


def test_a_body_over_the_limit_is_refused_by_the_server_before_authentication(api):
    response = api.post(body=b"x" * 100_000)

    assert (response.status, response.json()["error"]) == (413, "body_too_large")


def test_health_readiness_and_the_openapi_document_stay_open(api):
    assert api.get("/healthz").status == 200
    assert api.get("/readyz").status == 200
    document = api.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["paths"]["/one"]["post"]["security"] == [{"bearerAuth": ["one:write"]}]
    assert document["paths"]["/one/{request_id}"]["get"]["security"] == [{"bearerAuth": ["one:read"]}]
    assert "401" in document["paths"]["/one"]["post"]["responses"]


def test_with_the_jwks_unreachable_and_no_key_known_it_is_503_not_401(api):
    api.jwks.down()

    response = api.post(KEY.sign(claims()))

    assert response.status == 503
    assert response.headers["Retry-After"] == "1"


def test_every_request_has_its_server_span_naming_the_subject_and_never_holding_the_token(clean_postgres):
    recorded = in_memory_telemetry("cruncan-api")
    token = KEY.sign(claims(subject="span-subject"))
    try:
        with authenticated_api(clean_postgres, recorded.telemetry) as running:
            assert running.post(token).status == 201
            assert running.post(KEY.sign(claims(subject="reader", scope="one:read"))).status == 403
            assert running.post().status == 401
    finally:
        recorded.telemetry.shutdown()

    servers = [span for span in recorded.finished() if span.name == "POST /one"]
    assert [span.attributes.get("enduser.id") for span in servers] == ["span-subject", "reader", None]
    assert [span.attributes["http.response.status_code"] for span in servers] == [201, 403, 401]
    everything = " ".join(str(dict(span.attributes or {})) for span in recorded.finished())
    assert token not in everything
    assert token.split(".")[2] not in everything


JWT_SHAPED = st.lists(st.text("abXY-_09=", max_size=40), min_size=2, max_size=4).map(
    lambda parts: "Bearer " + ".".join(parts)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
    | st.builds(lambda tail: f"Bearer {tail}", st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
    | st.builds(
        lambda parts: "Bearer " + ".".join(parts),
        st.lists(st.text("abcXYZ-_019=", max_size=40), min_size=2, max_size=4),
    )
)
def test_any_authorization_header_but_a_valid_token_is_a_401_and_stores_nothing(api, authorization):
    response = api.http.request(
        "POST",
        f"{api.url}/one",
        body=json.dumps(BODY),
        headers={"Content-Type": "application/json", "Authorization": authorization},
    )

    assert response.status == 401, response.data
    assert response.json()["error"] in {"unauthorized", "invalid_token"}
    assert query(api.dsn, "SELECT count(*) FROM request") == [(0,)]


SUBJECT_REFUSED = "the token's subject must be 1 to 256 printable characters, not only spaces"


@pytest.mark.parametrize(
    "subject",
    ["alice\x00", "\x00", "alice\nINFO forged log line", "alice\r", "\x1b[31malice", "a\u2028b", "\ud800", "x" * 257],
)
def test_a_subject_with_nul_or_control_characters_or_too_long_is_401_and_stores_nothing(api, subject):
    response = api.post(KEY.sign(claims(subject=subject)))

    assert response.status == 401, response.data
    assert response.json() == {"error": "invalid_token", "detail": SUBJECT_REFUSED}
    assert query(api.dsn, "SELECT count(*) FROM request") == [(0,)]


def acceptable_subject(subject: str) -> bool:
    return 1 <= len(subject) <= 256 and subject.isprintable() and bool(subject.strip())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300) | st.text(st.characters(max_codepoint=0x9F), min_size=250, max_size=260))
def test_any_subject_is_stored_as_given_or_refused_with_401(api, subject):
    (before,) = query(api.dsn, "SELECT count(*) FROM request")

    response = api.post(KEY.sign(claims(subject=subject)))

    (after,) = query(api.dsn, "SELECT count(*) FROM request")
    if acceptable_subject(subject):
        assert response.status == 201, response.data
        reader = {"Authorization": f"Bearer {KEY.sign(claims())}"}
        assert api.get(response.headers["Location"], reader).json()["submitted_by"] == subject
        assert after[0] == before[0] + 1
    else:
        assert response.status == 401, response.data
        assert response.json()["detail"] == SUBJECT_REFUSED
        assert after == before
