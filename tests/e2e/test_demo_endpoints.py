"""The demo-only endpoints of a real `cruncan demo`, attacked: every bad input gets a 400 (or 413)
JSON error `{"error", "detail"}` and changes nothing."""

from __future__ import annotations

import json

import pytest
import urllib3

FAULTS_OFF = {"unavailable_share": 0.0, "delay_ms": 0, "reject": False}
HOSTILE_FAULTS: list[tuple[bytes, str | None]] = [
    (b"", None),
    (b"not json", None),
    (b"\xff\xfe{}", None),
    (b"[" * 100_000, None),
    (b'{"delay_ms": 1' + b"0" * 5000 + b"}", None),
    (b"[]", "body"),
    (b'"reject"', "body"),
    (b"null", "body"),
    (b'{"unavailable_share": NaN}', None),
    (b'{"unavailable_share": Infinity}', None),
    (b'{"reject": false, "reject": true}', None),
    (b'{"unavailable_share": 1.5}', "unavailable_share"),
    (b'{"unavailable_share": -0.01}', "unavailable_share"),
    (b'{"unavailable_share": "50%"}', "unavailable_share"),
    (b'{"delay_ms": 5001}', "delay_ms"),
    (b'{"delay_ms": -1}', "delay_ms"),
    (b'{"delay_ms": 2.5}', "delay_ms"),
    (b'{"delay_ms": 1e309}', "delay_ms"),
    (b'{"reject": "yes"}', "reject"),
    (b'{"reject": 1}', "reject"),
    (b'{"reject": true, "__proto__": {}}', "__proto__"),
]


@pytest.fixture
def demo_url(cruncan) -> str:
    return cruncan("demo", "--port", "0", "--set", "demo.stand_in_port=0").url()


def test_hostile_fault_settings_are_refused_with_a_json_error_and_change_nothing(demo_url: str) -> None:
    http = urllib3.PoolManager()
    wanted = {"unavailable_share": 0.25, "delay_ms": 100, "reject": False}
    assert http.request("PUT", f"{demo_url}/demo/faults", json=wanted).json() == wanted

    for body, field in HOSTILE_FAULTS:
        answer = http.request("PUT", f"{demo_url}/demo/faults", body=body, headers={"Content-Type": "application/json"})
        assert answer.status == 400, (body[:40], answer.data[:200])
        error = answer.json()
        assert error["error"] == ("invalid_faults" if field else "malformed_json"), (body[:40], error)
        assert error["detail"]
        assert error.get("field") == field, (body[:40], error)

    assert http.request("GET", f"{demo_url}/demo/faults").json() == wanted


def test_a_body_over_the_size_limit_is_refused_with_413(demo_url: str) -> None:
    huge = json.dumps({"reject": True, "padding": "x" * 2_000_000}).encode()
    answer = urllib3.request("PUT", f"{demo_url}/demo/faults", body=huge, headers={"Content-Type": "application/json"})
    assert (answer.status, answer.json()["error"]) == (413, "body_too_large")
    assert urllib3.request("GET", f"{demo_url}/demo/faults").json() == FAULTS_OFF


def test_a_key_left_out_of_the_settings_turns_that_fault_off(demo_url: str) -> None:
    urllib3.request("PUT", f"{demo_url}/demo/faults", json={"reject": True, "delay_ms": 50})
    answer = urllib3.request("PUT", f"{demo_url}/demo/faults", json={"unavailable_share": 1})
    assert answer.json() == {**FAULTS_OFF, "unavailable_share": 1.0}


def test_a_bad_limit_for_the_recent_requests_is_refused(demo_url: str) -> None:
    for limit in ["0", "101", "-1", "abc", "", "1.5", "1e2", "\uff11", "9" * 400, "20&limit=x", " 5"]:
        answer = urllib3.request("GET", f"{demo_url}/demo/requests", fields={"limit": limit})
        assert answer.status == 400, limit
        assert answer.json()["error"] == "invalid_limit"


def test_the_recent_requests_list_the_newest_first_up_to_the_limit(demo_url: str) -> None:
    sent = [
        urllib3.request("POST", f"{demo_url}/one", json={"user_id": f"user-{n}"}).json()["request_id"] for n in range(3)
    ]

    listed = urllib3.request("GET", f"{demo_url}/demo/requests", fields={"limit": "2"}).json()["requests"]

    assert [row["request_id"] for row in listed] == sent[:0:-1]
    assert {row["user_id"] for row in listed} == {"user-1", "user-2"}


def test_the_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(demo_url: str) -> None:
    page = urllib3.request("GET", f"{demo_url}/")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert b"http://" not in page.data
    assert b"https://" not in page.data
    for asset in ("/demo/static/demo.js", "/demo/static/demo.css"):
        assert urllib3.request("GET", f"{demo_url}{asset}").status == 200, asset


def test_methods_the_demo_endpoints_do_not_take_get_a_json_405(demo_url: str) -> None:
    for method, path in (("POST", "/demo/faults"), ("DELETE", "/demo/requests"), ("POST", "/")):
        answer = urllib3.request(method, f"{demo_url}{path}", body=b"{}")
        assert answer.status == 405, (method, path)
        assert answer.json()["error"] == "method_not_allowed"


def test_without_authentication_the_page_gets_no_token(demo_url: str) -> None:
    answer = urllib3.request("GET", f"{demo_url}/demo/token")

    assert answer.status == 200
    assert answer.json() == {"token": None}
    assert answer.headers["Cache-Control"] == "no-store"


def test_with_authentication_the_page_gets_a_fresh_token_that_the_api_takes(cruncan) -> None:
    url = cruncan("demo", "--auth", "--port", "0", "--set", "demo.stand_in_port=0").url()
    body = json.dumps({"user_id": "user-1", "prompt": "hello"}).encode()

    refused = urllib3.request("POST", f"{url}/one", body=body, headers={"Content-Type": "application/json"})
    token = urllib3.request("GET", f"{url}/demo/token").json()["token"]
    accepted = urllib3.request(
        "POST",
        f"{url}/one",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )

    assert refused.status == 401
    assert accepted.status == 201, accepted.data
    read = urllib3.request(
        "GET", f"{url}{accepted.headers['Location']}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert read["submitted_by"] == "demo-user"
