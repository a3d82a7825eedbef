"""The demo's container hands one in-memory storage, messaging, clock and metrics to both the API and
the worker, and points the worker at the stand-ins' server, without touching the settings it was given."""

from collections.abc import Iterator

import pytest
import urllib3
from hypothesis import given
from hypothesis import strategies as st

from adapters.telemetry.providers import Telemetry
from domain.model.request import RequestStatus
from entrypoints.demo.container import DemoContainer, build_container, demo_settings
from entrypoints.settings import load_settings

BODY = {"user_id": "user-1", "prompt": "hello", "data": [{"key": "k", "value": "v"}]}


@pytest.fixture
def demo() -> Iterator[DemoContainer]:
    settings = load_settings(environ={}, overrides=["demo.stand_in_port=0", "storage.backend=postgres"])
    container = build_container(settings, Telemetry.disabled("cruncan-demo"))
    yield container
    container.shutdown_resources()


def test_a_request_ingested_through_the_api_is_in_the_store_the_worker_reads(demo):
    request_id = demo.api().ingest()(BODY)

    with demo.worker().traced_unit_of_work()() as uow:
        stored = uow.requests.get(request_id)

    assert stored is not None
    assert stored.status is RequestStatus.ACCEPTED
    assert demo.api().query()(request_id).request_id == request_id


def test_the_api_and_the_worker_share_one_broker_one_clock_and_one_set_of_metrics(demo):
    api, worker = demo.api(), demo.worker()

    assert api.messaging.memory_broker() is worker.messaging.memory_broker() is demo.messaging.memory_broker()
    assert api.core.clock() is worker.core.clock()
    assert api.observability.metrics() is worker.observability.metrics()


def test_every_port_is_in_memory_whatever_the_settings_say(demo):
    assert demo.api().config.storage.backend() == "memory"
    assert demo.worker().config.messaging.backend() == "memory"
    assert demo.api().config.relay.embedded() is True


def test_the_worker_reaches_the_stand_ins_at_the_address_their_server_bound(demo):
    server = demo.stand_in.server()
    server.start()
    try:
        worker = demo.worker()
        assert worker.config.token.url() == worker.config.third_party.url() == server.url
        token = worker.token_client().fetch()
        answer = urllib3.request("POST", f"{server.url}/three", headers={"Authorization": "Bearer nope"}, body=b"{}")
    finally:
        assert server.stop(1.0)
    assert token.value
    assert answer.status == 400, "the stand-in answered the worker's address"


def test_the_given_settings_are_left_as_they_were():
    settings = load_settings(environ={}, overrides=["demo.stand_in_port=0"])
    before = settings()

    build_container(settings, Telemetry.disabled("cruncan-demo")).api().ingest()

    assert settings() == before


def test_a_client_secret_is_made_up_only_when_none_is_set():
    unset = load_settings(environ={})()
    given = load_settings(environ={}, overrides=["token.client_secret=s3cret"])()

    made_up = {demo_settings(unset)["token"]["client_secret"] for _ in range(3)}

    assert demo_settings(given)["token"]["client_secret"] == "s3cret"
    assert len(made_up) == 3
    assert all(len(secret) >= 16 for secret in made_up)


@given(secret=st.text(min_size=1), backend=st.sampled_from(["memory", "postgres"]), embedded=st.booleans())
def test_the_demo_keeps_a_given_secret_and_runs_in_memory_whatever_else_is_set(secret, backend, embedded):
    settings = load_settings(environ={})()
    settings["token"]["client_secret"] = secret
    settings["storage"]["backend"] = backend
    settings["relay"]["embedded"] = embedded

    demo = demo_settings(settings)

    assert demo["token"]["client_secret"] == secret
    assert (demo["storage"]["backend"], demo["messaging"]["backend"], demo["relay"]["embedded"]) == (
        "memory",
        "memory",
        True,
    )
    assert demo["storage"]["postgres"] == settings["storage"]["postgres"]
