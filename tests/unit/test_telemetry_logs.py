import io
import json
import logging
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from adapters.telemetry.logs import ConsoleHandler, configure_logging
from adapters.telemetry.providers import sdk_telemetry
from adapters.telemetry.redaction import MIN_SECRET_LENGTH, REDACTED, Redactor

pytestmark = pytest.mark.usefixtures("root_logger")

log = logging.getLogger("cruncan.test")


@pytest.fixture
def console(recorded):
    stream = io.StringIO()
    configure_logging(recorded.telemetry, level="INFO", stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_console_lines_are_json_with_the_trace_and_span_of_the_current_span(recorded, console):
    with recorded.telemetry.tracer("test").start_as_current_span("POST /one") as span:
        log.info("stored %s", "00264905529753600064", extra={"user_id": "user-1"})
    log.warning("outside any span")

    inside, outside = lines(console)
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert inside["message"] == "stored 00264905529753600064"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "cruncan.test"
    assert inside["service.name"] == "cruncan-api"
    assert inside["process.pid"] == os.getpid()
    assert inside["user_id"] == "user-1"
    assert "timestamp" in inside
    assert "trace_id" not in outside
    assert "span_id" not in outside
    assert outside["level"] == "WARNING"


def test_the_same_records_are_exported_with_their_trace_context(recorded, console):
    with recorded.telemetry.tracer("test").start_as_current_span("process one-request") as span:
        log.info("forwarded %s", "42")

    [exported] = [r for r in recorded.logs.get_finished_logs() if r.log_record.body == "forwarded 42"]
    assert exported.log_record.trace_id == span.get_span_context().trace_id
    assert exported.log_record.span_id == span.get_span_context().span_id
    assert exported.log_record.severity_text == "INFO"
    assert exported.resource.attributes["service.name"] == "cruncan-api"


def test_records_below_the_console_level_go_nowhere(recorded, root_logger):
    stream = io.StringIO()
    configure_logging(recorded.telemetry, level="WARNING", stream=stream)

    log.info("chatter")

    assert stream.getvalue() == ""
    assert recorded.logs.get_finished_logs() == ()


def test_the_sdk_own_records_are_not_exported_to_avoid_feedback(recorded, console):
    logging.getLogger("opentelemetry.exporter.otlp").warning("Failed to export batch")

    assert lines(console)[0]["message"] == "Failed to export batch"
    assert recorded.logs.get_finished_logs() == ()


def test_configuring_again_replaces_the_console_handler(recorded, console, root_logger):
    configure_logging(recorded.telemetry, stream=io.StringIO())

    assert sum(isinstance(handler, ConsoleHandler) for handler in root_logger.handlers) == 1


def test_shutdown_stops_exporting_log_records(recorded, console, root_logger):
    recorded.telemetry.shutdown()
    log.info("after shutdown")

    assert lines(console)[-1]["message"] == "after shutdown"
    assert recorded.logs.get_finished_logs() == ()


SECRET = "s3cr3t-client-password"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.signature"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {TOKEN}", f"Authorization: Bearer {REDACTED}"),
        ("authorization=Basic Y3J1bmNhbjpzM2NyM3Q=", f"authorization=Basic {REDACTED}"),
        (f"sent {{'Authorization': 'Bearer {TOKEN}', 'language': 'en'}}", None),
        (f'{{"access_token": "{TOKEN}", "expires_in": 3600}}', f'{{"access_token": "{REDACTED}", "expires_in": 3600}}'),
        (
            f"grant_type=client_credentials&client_secret={SECRET}&scope=general",
            f"grant_type=client_credentials&client_secret={REDACTED}&scope=general",
        ),
        (f"token is bearer {TOKEN}", f"token is bearer {REDACTED}"),
        (f"the secret {SECRET} leaked", f"the secret {REDACTED} leaked"),
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_secrets_are_blanked_in_text(text, expected):
    redacted = Redactor([SECRET]).text(text)

    assert TOKEN not in redacted
    assert SECRET not in redacted
    if expected is not None:
        assert redacted == expected
    else:
        assert "'language': 'en'" in redacted


def test_secret_and_body_fields_are_blanked_whole_and_others_searched():
    redactor = Redactor([SECRET])

    assert redactor.field("Authorization", "anything") == REDACTED
    assert redactor.field("client_secret", "anything") == REDACTED
    assert redactor.field("body", {"user_id": "user-1"}) == REDACTED
    assert redactor.field("headers", {"Content-Type": "application/json", "authorization": f"Bearer {TOKEN}"}) == {
        "Content-Type": "application/json",
        "authorization": REDACTED,
    }
    assert redactor.field("detail", [f"got {SECRET}", 3]) == [f"got {REDACTED}", 3]


def test_short_or_empty_secrets_are_not_remembered():
    redactor = Redactor(["", "  ", "abc"])

    assert redactor.text("abc is fine") == "abc is fine"


@given(
    secret=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=4, max_size=40).filter(
        lambda s: len(s.strip()) >= MIN_SECRET_LENGTH and s not in REDACTED
    ),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
)
def test_a_remembered_secret_never_survives_redaction(secret, before, after):
    redactor = Redactor()
    redactor.remember(secret)

    assert secret not in redactor.text(before + secret + after)


_FRAGMENTS = st.sampled_from(
    [
        "Authorization: ",
        "Bearer ",
        "basic ",
        "client_secret=",
        '"access_token": "',
        REDACTED,
        TOKEN,
        SECRET,
        " ",
        "&",
        '"',
    ]
)


@given(st.lists(_FRAGMENTS | st.text(max_size=8), max_size=12).map("".join))
def test_redacting_twice_changes_nothing_more(text):
    """Both the console and the OTLP handler redact a record, so a second pass must be harmless."""
    redactor = Redactor([SECRET])
    once = redactor.text(text)

    assert redactor.text(once) == once


def test_log_records_lose_their_secrets_on_the_console_and_over_otlp(recorded, root_logger):
    recorded.telemetry.redactor.remember(SECRET)
    stream = io.StringIO()
    configure_logging(recorded.telemetry, stream=stream)

    log.info(
        "token response %s for client secret %s",
        f'{{"access_token": "{TOKEN}"}}',
        SECRET,
        extra={"authorization": f"Bearer {TOKEN}", "body": {"prompt": "private"}, "status": 200},
    )

    [line] = lines(stream)
    assert line["message"] == f'token response {{"access_token": "{REDACTED}"}} for client secret {REDACTED}'
    assert line["authorization"] == REDACTED
    assert line["body"] == REDACTED
    assert line["status"] == 200
    [exported] = [r.log_record for r in recorded.logs.get_finished_logs()]
    assert TOKEN not in str(exported.body)
    assert SECRET not in str(exported.body)
    assert exported.attributes["authorization"] == REDACTED
    assert exported.attributes["body"] == REDACTED


class CountingRedactor(Redactor):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def text(self, text: str) -> str:
        self.texts.append(text)
        return super().text(text)


def test_a_record_is_redacted_once_for_the_console_and_otlp_together(root_logger):
    redactor = CountingRedactor()
    exported = InMemoryLogRecordExporter()
    telemetry = sdk_telemetry(
        Resource({"service.name": "cruncan-test"}),
        log_processors=[SimpleLogRecordProcessor(exported)],
        redactor=redactor,
    )
    stream = io.StringIO()
    configure_logging(telemetry, stream=stream)

    log.info("POST /one 201 with %s", f"Bearer {TOKEN}", extra={"http.route": "/one"})
    log.info("POST /one 201 with %s", f"Bearer {TOKEN}", extra={"http.route": "/one"})
    telemetry.shutdown()

    assert redactor.texts == [f"POST /one 201 with Bearer {TOKEN}", "/one"] * 2, "twice: one record, then the next"
    assert [line["message"] for line in lines(stream)] == [f"POST /one 201 with Bearer {REDACTED}"] * 2
    assert [r.log_record.body for r in exported.get_finished_logs()] == [f"POST /one 201 with Bearer {REDACTED}"] * 2


def test_exceptions_are_logged_as_redacted_semantic_fields_on_both_outputs(recorded, root_logger):
    recorded.telemetry.redactor.remember(SECRET)
    stream = io.StringIO()
    configure_logging(recorded.telemetry, stream=stream)

    try:
        raise ConnectionError(f"token API said no to client_secret={SECRET}")
    except ConnectionError:
        log.exception("could not fetch a token")

    [line] = lines(stream)
    assert line["message"] == "could not fetch a token"
    assert line["exception.type"] == "ConnectionError"
    assert line["exception.message"] == f"token API said no to client_secret={REDACTED}"
    assert "Traceback" in line["exception.stacktrace"]
    assert SECRET not in stream.getvalue()
    [exported] = recorded.logs.get_finished_logs()
    assert exported.log_record.attributes["exception.type"] == "ConnectionError"
    assert SECRET not in exported.log_record.attributes["exception.stacktrace"]
    assert SECRET not in repr(dict(exported.log_record.attributes))


def test_peewee_never_logs_statement_parameters_even_at_debug(recorded, root_logger):
    stream = io.StringIO()
    configure_logging(recorded.telemetry, level="DEBUG", stream=stream)

    logging.getLogger("peewee").debug(("INSERT INTO request VALUES (%s)", ['{"prompt": "private"}']))

    assert "private" not in stream.getvalue()
