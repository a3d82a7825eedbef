"""psycopg2 instrumentation under peewee's pool, on the real Postgres server.

The instrumentation patches `psycopg2.connect`, so it must run before the pool opens a
connection: a connection opened earlier keeps an untraced cursor factory for its life. Inside a
port span (itself the database call) the statements are not traced again."""

import pytest
from opentelemetry.trace import SpanKind

from adapters.memory.clock import ManualClock
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from adapters.telemetry.instrumentation import instrument_libraries
from adapters.telemetry.tracing import traced_unit_of_work
from domain.services.snowflake import SnowflakeIdGenerator
from domain.usecases.ingest import IngestRequest

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("clean_environment")]

PROMPT = "a prompt that must stay out of every span"
PSYCOPG2 = "opentelemetry.instrumentation.psycopg2"


@pytest.fixture
def ingest_under_a_request_span(database, recorded):
    clock = ManualClock()
    uow = traced_unit_of_work(lambda: PeeweeUnitOfWork(database), recorded.telemetry, db_system="postgresql")
    ingest = IngestRequest(uow, SnowflakeIdGenerator(clock, node=1), clock)

    def request():
        clock.advance(0.001)
        with recorded.telemetry.tracer("test").start_as_current_span("POST /one", kind=SpanKind.SERVER) as server:
            ingest({"user_id": "user-1", "prompt": PROMPT})
            with database.connection_context():
                database.execute_sql("SELECT count(*) FROM request")
        return server

    return request


def test_statements_are_client_spans_of_the_request_once_each(ingest_under_a_request_span, recorded):
    instrument_libraries(recorded.telemetry)

    server = ingest_under_a_request_span()

    clients = [span for span in recorded.finished() if span.kind is SpanKind.CLIENT]
    by_scope = {(span.instrumentation_scope.name, span.name) for span in clients}
    assert by_scope == {
        ("cruncan", "RequestRepository.add"),
        ("cruncan", "Outbox.add"),
        ("cruncan", "UnitOfWork.commit"),
        (PSYCOPG2, "SELECT"),
    }, "the statements inside a port call are that call, not spans of their own"
    trace_id = server.get_span_context().trace_id
    for span in clients:
        assert span.context.trace_id == trace_id
        assert span.parent is not None
        assert span.parent.span_id == server.get_span_context().span_id
        assert span.attributes["db.system.name"] == "postgresql"
    [statement] = [span for span in clients if span.instrumentation_scope.name == PSYCOPG2]
    assert statement.attributes["db.query.text"] == "SELECT count(*) FROM request", "outside a port call"
    assert PROMPT not in repr([dict(span.attributes or {}) for span in recorded.finished()])


def test_a_connection_opened_before_instrumenting_stays_untraced(ingest_under_a_request_span, database, recorded):
    with database.connection_context():
        database.connection()
    instrument_libraries(recorded.telemetry)

    ingest_under_a_request_span()

    assert [span for span in recorded.finished() if span.instrumentation_scope.name == PSYCOPG2] == []
    database.close_all()
    ingest_under_a_request_span()
    assert [span for span in recorded.finished() if span.instrumentation_scope.name == PSYCOPG2] != []
