"""A server the harness cannot start or reach is a clear failure, never a skip or a hang."""

import pytest

from harness import postgres
from harness.errors import ServerUnavailable
from harness.network import free_port
from harness.polling import eventually
from harness.tansu import TansuBroker
from tests.conftest import failing_clearly


def test_a_missing_postgres_says_where_it_looked_and_how_to_start_it():
    dsn = postgres.unreachable_dsn()

    with pytest.raises(ServerUnavailable) as raised:
        postgres.require_server(dsn)

    assert "Postgres is missing" in str(raised.value)
    assert dsn.split("@")[1].split("/")[0] in str(raised.value)
    assert postgres.START_COMMAND in str(raised.value)


def test_a_broker_that_exits_on_start_is_reported_with_its_log(tmp_path):
    broker = TansuBroker("/bin/false", free_port(), tmp_path / "broker.log")

    with pytest.raises(ServerUnavailable, match="Tansu broker exited with status 1 while starting"):
        broker.start()
    assert not broker.running


def test_a_fixture_turns_an_unavailable_server_into_a_failure_with_its_message():
    with pytest.raises(pytest.fail.Exception, match=r"^Postgres is missing: cannot reach") as raised, failing_clearly():
        postgres.require_server(postgres.unreachable_dsn())

    assert not raised.value.pytrace


def test_eventually_fails_naming_what_it_waited_for():
    with pytest.raises(AssertionError, match=r"^the answer: not within 0.1 s \(last seen: 0\)"):
        eventually(lambda: 0, "the answer", timeout_s=0.1)


def test_eventually_returns_the_first_truthy_result():
    results = iter([None, 0, "", "found", "later"])

    assert eventually(lambda: next(results), "a result", timeout_s=5) == "found"
