"""Spans from the libraries themselves: Flask and gRPC (server), psycopg2 (database), urllib3 (outbound HTTP)."""

from __future__ import annotations

import os

import grpc
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.grpc import server_interceptor
from opentelemetry.instrumentation.grpc.filters import any_of, health_check, negate, service_prefix
from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.util.http import OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, redact_url

from adapters.telemetry.providers import Telemetry
from adapters.telemetry.redaction import SECRET_HEADERS

HEALTH_PATHS = ("/healthz", "/readyz")
STABLE_SEMCONV = "http,database"


def instrument_flask_app(app: Flask, telemetry: Telemetry) -> None:
    """A SERVER span per request (health checks excluded, with any `OTEL_PYTHON_FLASK_EXCLUDED_URLS`),
    continuing an incoming `traceparent`; `http.server.request.duration` per route."""
    if not telemetry.enabled:
        return
    _prepare_conventions()
    excluded = [rf"{path}(\?.*)?$" for path in HEALTH_PATHS]
    configured = os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    FlaskInstrumentor.instrument_app(  # type: ignore[no-untyped-call]
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        excluded_urls=",".join([*excluded, *([configured] if configured else [])]),
        enable_commenter=False,
    )
    telemetry.on_shutdown(lambda: FlaskInstrumentor.uninstrument_app(app))  # type: ignore[no-untyped-call]


def grpc_server_interceptors(telemetry: Telemetry) -> list[grpc.ServerInterceptor]:
    """A SERVER span per RPC (health checks and reflection excluded), continuing the caller's trace from
    its `traceparent` metadata; no metadata value (a bearer token) is recorded."""
    if not telemetry.enabled:
        return []
    unobserved = any_of(health_check(), service_prefix("grpc.reflection."))
    interceptor = server_interceptor(tracer_provider=telemetry.tracer_provider, filter_=negate(unobserved))  # type: ignore[no-untyped-call]
    return [interceptor]


def instrument_libraries(telemetry: Telemetry) -> None:
    """Process-wide: a CLIENT span per psycopg2 statement and per urllib3 request, which also
    sends `traceparent` on. psycopg2 is patched at `psycopg2.connect`, so call this before the
    first connection is opened (connections opened earlier stay untraced). Statement parameters,
    request bodies and secret headers are never recorded; URLs lose credentials and signatures.
    Raises if another `Telemetry` still holds these instrumentations."""
    if not telemetry.enabled:
        return
    psycopg2, urllib3 = Psycopg2Instrumentor(), URLLib3Instrumentor()
    if psycopg2.is_instrumented_by_opentelemetry or urllib3.is_instrumented_by_opentelemetry:
        raise RuntimeError("psycopg2/urllib3 are already instrumented: shut the earlier Telemetry down first")
    _prepare_conventions()
    psycopg2.instrument(tracer_provider=telemetry.tracer_provider, capture_parameters=False)
    telemetry.on_shutdown(psycopg2.uninstrument)
    urllib3.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        url_filter=redact_url,
        sensitive_headers=_sanitized_headers(),
    )
    telemetry.on_shutdown(urllib3.uninstrument)


def _prepare_conventions() -> None:
    """Opts in to the stable HTTP and database conventions unless `OTEL_SEMCONV_STABILITY_OPT_IN`
    says otherwise, and makes secret headers redacted even when header capture is turned on
    (the WSGI instrumentation reads the sanitize list from the environment on every request)."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", STABLE_SEMCONV)
    os.environ[OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS] = ",".join(_sanitized_headers())


def _sanitized_headers() -> list[str]:
    configured = os.environ.get(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS, "")
    names = [name.strip() for name in configured.split(",") if name.strip()]
    return list(dict.fromkeys([*names, *sorted(SECRET_HEADERS)]))
