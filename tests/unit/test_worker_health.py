"""The worker's liveness and readiness, and the small WSGI app that reports them, under any request."""

import json
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entrypoints.worker.health import WorkerHealth
from entrypoints.worker.health_server import health_app
from ports.messages import TopicPartition

P0, P1 = TopicPartition("one-request", 0), TopicPartition("one-request", 1)


class Ticking:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Ticking()


@pytest.fixture
def health(clock):
    return WorkerHealth(liveness_threshold_s=5.0, clock=clock)


def test_a_loop_that_polled_within_the_threshold_is_alive_and_one_silent_longer_is_not(health, clock):
    clock.now += 4.9
    assert health.liveness().healthy
    health.beat()
    clock.now += 5.0
    assert health.liveness().healthy
    clock.now += 0.1

    report = health.liveness()

    assert not report.healthy
    assert report.detail == {"last_poll_s_ago": 5.1, "threshold_s": 5.0}


def test_a_worker_is_ready_once_the_group_gives_it_partitions(health):
    assert not health.readiness().healthy

    health.assigned([P1, P0])

    assert health.readiness().detail == {"partitions": ["one-request[0]", "one-request[1]"], "idle": False}


def test_a_member_given_no_partitions_is_ready_and_knowingly_idle(health):
    health.assigned([])

    report = health.readiness()

    assert report.healthy
    assert report.detail == {"partitions": [], "idle": True}


def test_revoking_keeps_membership_but_losing_partitions_or_leaving_does_not(health):
    health.assigned([P0, P1])
    health.revoked([P0])
    assert health.readiness().detail["partitions"] == ["one-request[1]"]

    health.lost([P1])
    assert not health.readiness().healthy

    health.assigned([P0])
    health.left()
    assert not health.readiness().healthy


@pytest.mark.parametrize("threshold", [0.0, -1.0])
def test_the_threshold_must_be_positive(threshold):
    with pytest.raises(ValueError, match="liveness_threshold_s must be positive"):
        WorkerHealth(threshold)


def answer(app, method: str, path: str):
    """Calls the WSGI app as waitress would, with the raw path: no client-side URL parsing in between."""
    environ: dict = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.partition("?")[0],
        "QUERY_STRING": path.partition("?")[2],
    }
    setup_testing_defaults(environ)
    started: list = []
    body = b"".join(app(environ, lambda status, headers: started.append((status, headers))))
    status, headers = started[0]
    return int(status.split()[0]), dict(headers), body


def test_the_probes_answer_200_when_passing_and_503_when_failing(health, clock):
    client = health_app(health)

    status, headers, body = answer(client, "GET", "/healthz")
    assert (status, headers["Content-Type"], json.loads(body)["status"]) == (200, "application/json", "ok")
    assert answer(client, "GET", "/readyz")[0] == 503

    health.assigned([P0])
    clock.now += 60
    assert answer(client, "GET", "/readyz")[0] == 200
    status, _, body = answer(client, "GET", "/healthz")
    assert (status, json.loads(body)["status"]) == (503, "failing")


def test_head_answers_the_status_without_a_body(health):
    status, _, body = answer(health_app(health), "HEAD", "/healthz")

    assert (status, body) == (200, b"")


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"]),
    path=st.one_of(
        st.sampled_from(["/healthz", "/readyz", "/", "/healthz/", "/HEALTHZ", "/readyz?x=1", "//healthz"]),
        st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00#?"), max_size=30).map(lambda t: "/" + t),
    ),
)
def test_any_request_gets_json_and_only_get_or_head_on_a_probe_runs_it(method, path):
    health = WorkerHealth(60.0)
    status, headers, body = answer(health_app(health), method, path)
    probe = path.partition("?")[0] in {"/healthz", "/readyz"}

    if method == "HEAD":
        assert body == b""
        assert status in ({200, 503} if probe else {404})
        return
    document = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    if not probe:
        assert (status, document["error"]) == (404, "not_found")
        assert document["detail"]
    elif method not in {"GET", "HEAD"}:
        assert (status, document["error"], headers["Allow"]) == (405, "method_not_allowed", "GET, HEAD")
    else:
        assert status in {200, 503}
        assert document["status"] in {"ok", "failing"}
