"""The OpenAPI 3.1 document of the API, built from the domain's own limits so the two cannot drift."""

from __future__ import annotations

from functools import cache
from typing import Any

from domain.model import idempotency
from domain.model import request as rules
from domain.model.principal import READ_SCOPE, SUBMIT_SCOPE
from domain.model.request import RequestStatus
from domain.model.snowflake import DIGITS


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


BEARER = "bearerAuth"

# What the HTTP server (entrypoints/api/waitress_shim.py) answers itself, before any route is chosen, so
# for every operation; an operation's own, more precise description of a status is kept.
REFUSED_BY_THE_SERVER = {
    "400": "A malformed request line, header, chunk or `Content-Length`, or a `Transfer-Encoding` whose last coding"
    " is not `chunked` (`bad_request`).",
    "408": "The body did not arrive within `http.body_timeout_s` of the headers (`request_timeout`).",
    "413": "The body is larger than the configured limit (`http.max_body_bytes`, 1 MiB), counted after chunked"
    " decoding (`body_too_large`).",
    "431": "The request line and headers are larger than `http.max_header_bytes` (`request_header_fields_too_large`).",
    "501": "A transfer coding before the last, `chunked`: the server decodes no other"
    " (`unsupported_transfer_encoding`).",
}


@cache
def openapi_document(authenticated: bool = False) -> dict[str, Any]:
    """The document; with `authenticated`, `/one` and `/one/{request_id}` require a bearer token and scope."""
    document = _document()
    if authenticated:
        for path, method, scope in (("/one", "post", SUBMIT_SCOPE), ("/one/{request_id}", "get", READ_SCOPE)):
            operation = document["paths"][path][method]
            operation["security"] = [{BEARER: [scope]}]
            operation["responses"]["401"] = _error(
                "No bearer token, or one that is not valid (`WWW-Authenticate` says why, RFC 6750)."
            )
            operation["responses"]["403"] = _error(f"The token lacks the scope `{scope}`.")
    return document


def _document() -> dict[str, Any]:
    document = _routes()
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            for status, description in REFUSED_BY_THE_SERVER.items():
                responses.setdefault(status, _error(description))
            operation["responses"] = dict(sorted(responses.items()))
    return document


def _routes() -> dict[str, Any]:
    """The document as the application's routes answer, without what the HTTP server answers itself."""
    request_id = {
        "type": "string",
        "pattern": f"^[0-9]{{{DIGITS}}}$",
        "description": f"A Snowflake ID: {DIGITS} decimal digits.",
        "examples": ["00000750110474519616"],
    }
    one_request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id"],
        "properties": {
            "user_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": rules.USER_ID_MAX,
                "pattern": rules.NOT_BLANK_PATTERN,
                "description": "Not only white space; no NUL characters.",
            },
            "prompt": {"type": "string", "maxLength": rules.PROMPT_MAX, "pattern": rules.TEXT_PATTERN},
            "data": {
                "type": "array",
                "maxItems": rules.DATA_ITEMS_MAX,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "value"],
                    "properties": {
                        "key": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": rules.KEY_MAX,
                            "pattern": rules.TEXT_PATTERN,
                        },
                        "value": {"type": "string", "maxLength": rules.VALUE_MAX, "pattern": rules.TEXT_PATTERN},
                    },
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cruncan ingestion API",
            "version": "1.0.0",
            "description": "Accepts requests, stores them and publishes them for forwarding.",
        },
        "paths": {
            "/one": {
                "post": {
                    "operationId": "createRequest",
                    "summary": "Accept a request; it is stored and will be published for forwarding.",
                    "parameters": [{"$ref": "#/components/parameters/IdempotencyKey"}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OneRequest"}}},
                    },
                    "responses": {
                        "201": {
                            "description": "Stored; the ID is returned only after the request is committed.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["request_id"],
                                        "properties": {"request_id": {"$ref": "#/components/schemas/RequestId"}},
                                    }
                                }
                            },
                        },
                        "400": _error(
                            "Malformed JSON (not UTF-8, `NaN`, an integer of over 4,300 digits, nesting too deep),"
                            " a key repeated in an object (`duplicate_key`), a body that breaks a rule (`field`"
                            " names it), an invalid `Idempotency-Key`, or (from the HTTP server) malformed framing"
                            " (`bad_request`)."
                        ),
                        "413": _error("The body is larger than the configured limit (`http.max_body_bytes`, 1 MiB)."),
                        "409": _error(
                            "A request with this `Idempotency-Key` is still being stored; retry after `Retry-After`"
                            " seconds to get its answer."
                        ),
                        "415": _error("The body is not `application/json`."),
                        "422": _error("This `Idempotency-Key` was already used with a different body."),
                        "503": _error("The store is unavailable; retry after `Retry-After` seconds."),
                    },
                }
            },
            "/one/{request_id}": {
                "get": {
                    "operationId": "getRequest",
                    "summary": "A stored request, its timestamps and how far it got.",
                    "parameters": [
                        {
                            "name": "request_id",
                            "in": "path",
                            "required": True,
                            "schema": {"$ref": "#/components/schemas/RequestId"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The stored request.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoredRequest"}}},
                        },
                        "404": _error("No request has this ID; one that is not 20 digits never has."),
                        "503": _error("The store is unavailable; retry after `Retry-After` seconds."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "liveness",
                    "summary": "The process is alive.",
                    "responses": {
                        "200": {
                            "description": "Alive.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readiness",
                    "summary": "Every dependency the API needs is reachable.",
                    "responses": {
                        "200": {
                            "description": "Ready.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        },
                        "503": _error("A dependency is unreachable; `checks` says which."),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {}}}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "When the server runs with `auth.enabled`: a JWT from the configured issuer, signed with a"
                        f" key of its JWKS, for the configured audience, with the scope `{SUBMIT_SCOPE}` to submit"
                        f" and `{READ_SCOPE}` to read."
                    ),
                }
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": (
                        "Makes retries safe: a request sent again with the same key and the same body within the"
                        f" server's window (`idempotency.window_s`, {idempotency.DEFAULT_WINDOW.total_seconds():g} s"
                        " by default) is not stored again and gets the first answer (`201`, same `request_id`)."
                        " The same key with another body is a `422`; while the first is still being stored, a `409`."
                        " Keys are opaque and compared exactly: 1 to 255 printable ASCII characters, neither"
                        " first nor last a space."
                    ),
                    "schema": {"type": "string", "pattern": idempotency.KEY_PATTERN},
                    "example": "8e03978e-40d5-43e8-bc93-6894a57f9324",
                }
            },
            "schemas": {
                "RequestId": request_id,
                "OneRequest": one_request,
                "StoredRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "request_id",
                        "request",
                        "status",
                        "failure_reason",
                        "submitted_by",
                        "created_at",
                        "updated_at",
                        "redrive_count",
                        "last_redriven_at",
                    ],
                    "properties": {
                        "request_id": {"$ref": "#/components/schemas/RequestId"},
                        "request": {"$ref": "#/components/schemas/OneRequest"},
                        "status": {"type": "string", "enum": [status.value for status in RequestStatus]},
                        "failure_reason": {"type": ["string", "null"]},
                        "submitted_by": {
                            "type": ["string", "null"],
                            "description": "The subject of the bearer token it was submitted with; null without.",
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "redrive_count": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "How many times `cruncan redrive` sent this failed request again.",
                        },
                        "last_redriven_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "ready"]},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {"type": "string"},
                        "field": {"type": "string"},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
        },
    }
