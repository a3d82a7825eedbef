"""Bearer authentication for OneService: an interceptor that verifies the `authorization` metadata before an
RPC runs. `Submit` needs `one:write`, `Get` `one:read`; health and reflection stay open. Refusals are
UNAUTHENTICATED and PERMISSION_DENIED; the service reads the caller's subject with `current_subject()`."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import grpc

from domain.model.errors import Unauthenticated, VerificationUnavailable
from domain.model.principal import READ_SCOPE, SUBMIT_SCOPE, Principal
from entrypoints.grpc.errors import RETRY_AFTER_S, abort, retry_info
from entrypoints.grpc.service import SERVICE_NAME
from ports.token_verifier import TokenVerifier

PROTECTED = {f"/{SERVICE_NAME}/Submit": SUBMIT_SCOPE, f"/{SERVICE_NAME}/Get": READ_SCOPE}
_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_subject() -> str | None:
    principal = _principal.get()
    return principal.subject if principal else None


class AuthenticationInterceptor(grpc.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier, record_subject: Callable[[str], None]) -> None:
        self._verifier = verifier
        self._record_subject = record_subject

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        scope = PROTECTED.get(handler_call_details.method)
        if handler is None or scope is None or handler.unary_unary is None:
            return handler
        behaviour = handler.unary_unary

        def authenticated(request: Any, context: grpc.ServicerContext) -> Any:
            principal = self._authenticate(context, scope)
            token = _principal.set(principal)
            try:
                return behaviour(request, context)
            finally:
                _principal.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _authenticate(self, context: grpc.ServicerContext, scope: str) -> Principal:
        headers = [value for key, value in context.invocation_metadata() if key == "authorization"]
        scheme, _, token = (str(headers[0]) if len(headers) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            abort(context, grpc.StatusCode.UNAUTHENTICATED, "a bearer token is required in the authorization metadata")
        try:
            principal = self._verifier.verify(token.strip())
        except Unauthenticated as exc:
            abort(context, grpc.StatusCode.UNAUTHENTICATED, exc.reason)
        except VerificationUnavailable:
            message = "tokens cannot be verified now; retry later"
            abort(context, grpc.StatusCode.UNAVAILABLE, message, retry_info(RETRY_AFTER_S))
        self._record_subject(principal.subject)
        if not principal.may(scope):
            abort(context, grpc.StatusCode.PERMISSION_DENIED, f"the token lacks the scope {scope!r}")
        return principal


def with_authentication(
    interceptors: list[grpc.ServerInterceptor],
    *,
    enabled: bool,
    verifier: Callable[[], TokenVerifier],
    record_subject: Callable[[str], None],
) -> list[grpc.ServerInterceptor]:
    """`interceptors`, then (innermost, inside the RPC's span) authentication when `enabled`."""
    if not enabled:
        return interceptors
    return [*interceptors, AuthenticationInterceptor(verifier(), record_subject)]
