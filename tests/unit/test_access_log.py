"""One access-log line per request, through the Flask app."""

import logging

import pytest

ACCESS = "entrypoints.api.access_log"
BODY = {"user_id": "user-1", "prompt": "hello"}


@pytest.fixture
def access(caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    return lambda: [record for record in caplog.records if record.name == ACCESS]


def fields(record):
    return {
        name: getattr(record, name, None)
        for name in ("http.request.method", "http.route", "http.response.status_code", "cruncan.request.id")
    }


def test_a_created_request_is_logged_with_its_route_status_duration_and_id(client, access):
    created = client.post("/one", json=BODY)
    request_id = created.json["request_id"]

    [line] = access()
    assert fields(line) == {
        "http.request.method": "POST",
        "http.route": "/one",
        "http.response.status_code": 201,
        "cruncan.request.id": request_id,
    }
    assert getattr(line, "http.server.duration_ms") >= 0
    assert line.getMessage().startswith("POST /one 201 ")
    assert line.getMessage().endswith(f" ms request_id={request_id}")


def test_a_read_is_logged_with_the_route_template_and_the_id_it_named(client, access):
    request_id = client.post("/one", json=BODY).json["request_id"]

    client.get(f"/one/{request_id}")
    client.get("/one/00000000000000000001")

    _, found, missing = access()
    assert fields(found)["http.route"] == "/one/<request_id>"
    assert (fields(found)["http.response.status_code"], fields(found)["cruncan.request.id"]) == (200, request_id)
    assert (fields(missing)["http.response.status_code"], fields(missing)["cruncan.request.id"]) == (
        404,
        "00000000000000000001",
    )


@pytest.mark.parametrize("path", ["/one/" + "9" * 5000, "/one/%00%0a%1b[31m", "/two/..%2f"])
def test_a_hostile_path_is_logged_by_its_route_without_echoing_it(client, access, path):
    client.get(path)

    [line] = access()
    assert fields(line)["cruncan.request.id"] is None
    assert fields(line)["http.response.status_code"] == 404
    assert len(line.getMessage()) < 80
    assert "\x1b" not in line.getMessage()


def test_errors_are_logged_too(client, access):
    client.post("/one", data="{", content_type="application/json")
    client.delete("/one")

    assert [fields(line)["http.response.status_code"] for line in access()] == [400, 405]
