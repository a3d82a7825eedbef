import pytest


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/one", ["OPTIONS", "POST"]),
        ("/one/00000000000000000001", ["GET", "HEAD", "OPTIONS"]),
        ("/healthz", ["GET", "HEAD", "OPTIONS"]),
    ],
)
def test_options_answers_with_allow_and_json(client, path, methods):
    response = client.options(path)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert sorted(response.headers["Allow"].split(", ")) == methods
    assert response.json == {"allow": methods}


def test_options_on_an_unknown_route_is_a_json_404(client):
    response = client.options("/two")

    assert (response.status_code, response.json["error"]) == (404, "not_found")
