"""The token API and the third party as the demo serves them over HTTP, so that the worker reaches them
through its real clients: `POST /v2/oauth/token` (client credentials, HTTP Basic) and `POST /three`."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from flask import Flask, Response, jsonify, request

from domain.model.errors import (
    InvalidRequest,
    ThirdPartyRejected,
    ThirdPartyUnauthorized,
    ThirdPartyUnavailable,
    TokenRefused,
    TokenUnavailable,
)
from domain.model.message import ThreeRequest
from domain.model.request import OneRequest
from domain.model.token import AccessToken
from entrypoints.demo.issuer import JWKS_PATH
from ports.clock import Clock
from ports.third_party import ThirdPartyClient
from ports.tokens import TokenClient

log = logging.getLogger(__name__)

NEVER = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def create_stand_in_app(
    issuer: TokenClient,
    third_party: ThirdPartyClient,
    clock: Clock,
    *,
    client_id: str,
    client_secret: str,
    jwks: Callable[[], dict[str, Any]],
) -> Flask:
    """Issues tokens from `issuer` to the one client it knows, and hands each `ThreeRequest` to
    `third_party` with the bearer token it came with, logging what it received. Also publishes `jwks()`,
    the keys of the identity provider `cruncan demo --auth` stands in for."""
    app = Flask("cruncan-stand-in")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get(JWKS_PATH)
    def signing_keys() -> Response:
        return jsonify(jwks())

    @app.post("/v2/oauth/token")
    def token() -> tuple[Response, int]:
        if not _authenticates(request.headers.get("Authorization", ""), client_id, client_secret):
            return _oauth_error("invalid_client", 401)
        if request.form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", 400)
        try:
            issued = issuer.fetch()
        except TokenRefused:
            return _oauth_error("invalid_client", 401)
        except TokenUnavailable:
            return _oauth_error("temporarily_unavailable", 503)
        expires_in = max(int((issued.expires_at - clock.now()).total_seconds()), 0)
        return jsonify(access_token=issued.value, token_type=issued.token_type, expires_in=expires_in), 200

    @app.post("/three")
    def three() -> tuple[Response, int]:
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not bearer:
            return jsonify(error="a bearer token is required"), 401
        try:
            received = _three_request(request.get_data())
        except (InvalidRequest, ValueError, KeyError, TypeError) as exc:
            return jsonify(error=f"not a ThreeRequest: {exc}"), 400
        try:
            third_party.send(received, AccessToken(bearer, "Bearer", NEVER))
        except ThirdPartyUnauthorized:
            return jsonify(error="the access token is not valid"), 401
        except ThirdPartyUnavailable:
            return jsonify(error="unavailable, try again"), 503
        except ThirdPartyRejected as exc:
            return jsonify(error=str(exc)), 400
        if log.isEnabledFor(logging.INFO):
            log.info(
                "third party received request %s (Idempotency-Key %s): %s",
                received.id,
                request.headers.get("Idempotency-Key"),
                json.dumps(received.to_json(), ensure_ascii=False),
            )
        return jsonify(id=received.id, status="accepted"), 200

    return app


def _three_request(body: bytes) -> ThreeRequest:
    document = json.loads(body)
    metadata = document["metadata"]
    if not isinstance(document["id"], str) or not isinstance(metadata, dict):
        raise ValueError("id must be a string and metadata an object")
    return ThreeRequest(
        id=document["id"],
        metadata={str(key): str(value) for key, value in metadata.items()},
        one_request=OneRequest.from_json(document["one_request"]),
    )


def _authenticates(header: str, client_id: str, client_secret: str) -> bool:
    """HTTP Basic with the client's ID and secret, each form-encoded first (RFC 6749 §2.3.1)."""
    scheme, _, encoded = header.partition(" ")
    if scheme != "Basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    return (
        bool(sep)
        and unquote_plus(user) == client_id
        and hmac.compare_digest(unquote_plus(password).encode(), client_secret.encode())
    )


def _oauth_error(code: str, status: int) -> tuple[Response, int]:
    return jsonify(error=code), status
