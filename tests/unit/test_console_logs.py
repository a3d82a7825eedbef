import io
import logging
import re

import pytest

from adapters.telemetry.logs import configure_logging
from adapters.telemetry.redaction import REDACTED

pytestmark = pytest.mark.usefixtures("root_logger")

log = logging.getLogger("cruncan.test")
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (?P<level>\S+) +(?P<logger>\S+): (?P<rest>.*)$")
COLOURED = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def configured(recorded, log_format: str, stream: io.StringIO | None = None) -> io.StringIO:
    stream = stream if stream is not None else io.StringIO()
    configure_logging(recorded.telemetry, level="INFO", stream=stream, log_format=log_format)
    return stream


def test_the_console_format_is_one_readable_line_with_extras_and_the_trace_id(recorded):
    stream = configured(recorded, "console")
    with recorded.telemetry.tracer("test").start_as_current_span("POST /one") as span:
        log.info("stored %s", "42", extra={"user_id": "user-1"})
    log.warning("outside any span")

    inside, outside = stream.getvalue().splitlines()
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert LINE.match(inside).group("level", "logger", "rest") == (
        "INFO",
        "cruncan.test",
        f"stored 42 user_id=user-1 trace_id={trace_id}",
    )
    assert LINE.match(outside).group("level", "rest") == ("WARNING", "outside any span")
    assert not COLOURED.search(stream.getvalue()), "no colour when the stream is not a terminal"


def test_levels_are_coloured_on_a_terminal(recorded, clean_environment):
    clean_environment.delenv("NO_COLOR", raising=False)
    stream = configured(recorded, "console", Terminal())

    log.info("fine")
    log.error("broken")

    info, error = stream.getvalue().splitlines()
    assert "\x1b[32mINFO" in info
    assert "\x1b[31mERROR" in error
    assert LINE.match(COLOURED.sub("", error)).group("rest") == "broken"


def test_no_color_turns_colour_off_on_a_terminal(recorded, clean_environment):
    clean_environment.setenv("NO_COLOR", "1")
    stream = configured(recorded, "console", Terminal())

    log.info("fine")

    assert not COLOURED.search(stream.getvalue())


@pytest.mark.parametrize(
    ("log_format", "stream", "readable"),
    [
        ("auto", Terminal, True),
        ("auto", io.StringIO, False),
        ("json", Terminal, False),
        ("console", io.StringIO, True),
    ],
)
def test_the_format_follows_the_setting_and_auto_follows_the_terminal(recorded, log_format, stream, readable):
    output = configured(recorded, log_format, stream())

    log.info("hello")

    line = COLOURED.sub("", output.getvalue().strip())
    assert bool(LINE.match(line)) is readable
    assert line.startswith("{") is not readable


def test_an_exception_follows_its_line_with_secrets_blanked(recorded):
    secret = "s3cr3t-t0ken-value"
    recorded.telemetry.redactor.remember(secret)
    stream = configured(recorded, "console")

    try:
        raise ValueError(f"the store refused {secret}")
    except ValueError:
        log.exception("could not store")

    first, *trace = stream.getvalue().splitlines()
    assert LINE.match(first).group("rest") == "could not store"
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == f"ValueError: the store refused {REDACTED}"
    assert secret not in stream.getvalue()


def test_an_unknown_format_is_refused(recorded):
    with pytest.raises(ValueError, match="logging format 'xml'"):
        configured(recorded, "xml")
