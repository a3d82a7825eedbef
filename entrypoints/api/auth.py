"""Bearer authentication for the HTTP API (RFC 6750): `POST /one` needs `one:write`, `GET /one/<id>`
`one:read`; health, readiness, the OpenAPI document and `OPTIONS` stay open. Installed only when
`auth.enabled`; the views read the caller's subject with `current_subject()`."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, g, request

from domain.model.errors import Forbidden, Unauthenticated, VerificationUnavailable
from domain.model.principal import READ_SCOPE, SUBMIT_SCOPE, Principal
from entrypoints.api.errors import RETRY_AFTER_S, error_response
from ports.token_verifier import TokenVerifier

REALM = "cruncan"
PROTECTED = {"one.post_one": SUBMIT_SCOPE, "one.get_one": READ_SCOPE}


def current_subject() -> str | None:
    """The subject of the verified token of the request being served; None when authentication is off."""
    principal: Principal | None = g.get("principal")
    return principal.subject if principal else None


def bearer_token(header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if not header:
        raise Unauthenticated("")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def install_authentication(app: Flask, verifier: TokenVerifier, record_subject: Callable[[str], None]) -> None:
    @app.before_request
    def authenticate() -> None:
        scope = PROTECTED.get(request.endpoint or "")
        if scope is None or request.method == "OPTIONS":
            return
        principal = verifier.verify(bearer_token(request.headers.get("Authorization")))
        record_subject(principal.subject)
        if not principal.may(scope):
            raise Forbidden(scope)
        g.principal = principal

    @app.errorhandler(Unauthenticated)
    def unauthenticated(exc: Unauthenticated) -> tuple[Response, int]:
        if not exc.reason:
            response, status = error_response(401, "unauthorized", "a bearer token is required")
            response.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
            return response, status
        response, status = error_response(401, "invalid_token", exc.reason)
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="{REALM}", error="invalid_token", error_description="{_quotable(exc.reason)}"'
        )
        return response, status

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> tuple[Response, int]:
        response, status = error_response(403, "insufficient_scope", str(exc))
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="{exc.scope}"'
        )
        return response, status

    @app.errorhandler(VerificationUnavailable)
    def unverifiable(exc: VerificationUnavailable) -> tuple[Response, int]:
        response, status = error_response(503, "unavailable", "tokens cannot be verified now; retry later")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response, status


def _quotable(text: str) -> str:
    """`text` within RFC 6750's error_description characters (printable ASCII but `"` and `\\`)."""
    return "".join(char if " " <= char <= "~" and char not in '"\\' else "?" for char in text)
