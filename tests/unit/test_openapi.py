import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.validation.request.exceptions import InvalidRequestBody
from werkzeug.test import EnvironBuilder

from domain.model.errors import InvalidIdempotencyKey, InvalidRequest
from domain.model.idempotency import validated_key
from domain.model.request import OneRequest
from entrypoints.api.openapi import openapi_document
from entrypoints.api.waitress_shim import ERRORS

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


@pytest.fixture(scope="module")
def spec():
    return OpenAPI.from_dict(openapi_document())


@pytest.fixture
def call(client, spec):
    """Sends a real request; returns the response and the request, readable again for validation."""

    def send(method, path, **kwargs):
        response = client.open(path, method=method, **kwargs)
        request = EnvironBuilder(path=path, method=method, **kwargs).get_request()
        return response, WerkzeugOpenAPIRequest(request)

    return send


def test_the_served_document_is_the_one_validated_against(client):
    assert client.get("/openapi.json").json == openapi_document()


def test_created_and_read_back_requests_match_the_document(call, spec):
    created, request = call("POST", "/one", json=BODY)
    read, read_request = call("GET", created.headers["Location"])

    assert (created.status_code, read.status_code) == (201, 200)
    spec.validate_request(request)
    spec.validate_response(request, WerkzeugOpenAPIResponse(created))
    spec.validate_response(read_request, WerkzeugOpenAPIResponse(read))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/one", {"data": "{", "content_type": "application/json"}, 400),
        ("POST", "/one", {"json": {"user_id": ""}}, 400),
        ("POST", "/one", {"data": "x" * 5000, "content_type": "application/json"}, 413),
        ("POST", "/one", {"data": "{}", "content_type": "text/plain"}, 415),
        ("GET", "/one/00000000000000000001", {}, 404),
        ("GET", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200),
        ("GET", "/openapi.json", {}, 200),
    ],
)
def test_every_documented_answer_matches_the_document(call, spec, method, path, kwargs, status):
    response, request = call(method, path, **kwargs)

    assert response.status_code == status
    spec.validate_response(request, WerkzeugOpenAPIResponse(response))


def operations(document):
    return [(f"{method.upper()} {path}", op) for path, item in document["paths"].items() for method, op in item.items()]


@pytest.mark.parametrize("authenticated", [False, True])
def test_every_operation_lists_what_the_http_server_answers_before_the_application(authenticated):
    refused_by_the_server = {str(status) for _, status, _ in ERRORS}
    document = openapi_document(authenticated=authenticated)

    missing = {
        name: sorted(refused_by_the_server - set(operation["responses"]))
        for name, operation in operations(document)
        if not refused_by_the_server <= set(operation["responses"])
    }
    assert not missing
    for _, operation in operations(document):
        for status in refused_by_the_server:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "u", "data": [{"key": "k"}]},
        {"user_id": ""},
        {"user_id": "u", "surprise": 1},
        {"prompt": "no user"},
    ],
)
def test_the_document_rejects_what_the_domain_rejects(call, spec, body):
    response, request = call("POST", "/one", json=body)

    assert response.status_code == 400
    with pytest.raises(InvalidRequestBody):
        spec.validate_request(request)


def test_answers_to_an_idempotency_key_match_the_document(call, spec):
    key = {"Idempotency-Key": "order-42"}
    first, request = call("POST", "/one", json=BODY, headers=key)
    retried, _ = call("POST", "/one", json=BODY, headers=key)
    reused, reused_request = call("POST", "/one", json={**BODY, "prompt": "other"}, headers=key)
    invalid, invalid_request = call("POST", "/one", json=BODY, headers={"Idempotency-Key": ""})

    assert [r.status_code for r in (first, retried, reused, invalid)] == [201, 201, 422, 400]
    spec.validate_request(request)
    for sent, answer in [(request, retried), (reused_request, reused), (invalid_request, invalid)]:
        spec.validate_response(sent, WerkzeugOpenAPIResponse(answer))


WHITE_SPACE = [chr(code) for code in range(0x110000) if chr(code).isspace()]
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20) | st.text(
    st.sampled_from([*WHITE_SPACE, "\x00", "a", "\u200b", "\ufeff"]), max_size=8
)


def matches(pattern, text):
    """JSON Schema's (ECMA-262) reading of `pattern`: there `$` is the end of the text, where Python's
    `$` also matches before a final newline."""
    return re.search(pattern.replace("$", r"\Z"), text) is not None


def accepted(body):
    try:
        OneRequest.from_json(body)
    except InvalidRequest:
        return False
    return True


@given(TEXT)
def test_the_documents_string_patterns_are_the_domains_rules(text):
    user_id = openapi_document()["components"]["schemas"]["OneRequest"]["properties"]["user_id"]
    prompt = openapi_document()["components"]["schemas"]["OneRequest"]["properties"]["prompt"]

    assert bool(text and matches(user_id["pattern"], text)) == accepted({"user_id": text})
    assert matches(prompt["pattern"], text) == accepted({"user_id": "u", "prompt": text})


@given(st.text(st.characters(max_codepoint=0x17F), max_size=300))
@example("a\n")
@example(" a")
@example("a" * 255)
def test_the_documents_key_pattern_is_the_domains_rule(key):
    parameter = openapi_document()["components"]["parameters"]["IdempotencyKey"]
    try:
        validated_key(key)
    except InvalidIdempotencyKey:
        valid = False
    else:
        valid = True

    assert matches(parameter["schema"]["pattern"], key) == valid
