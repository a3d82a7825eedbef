"""Standard `logging`: JSON or readable lines on the console, the same records over OTLP, secrets blanked."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from datetime import datetime
from typing import Any, ClassVar, TextIO

from opentelemetry import trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from pythonjsonlogger.json import JsonFormatter

from adapters.telemetry.providers import Telemetry
from adapters.telemetry.redaction import Redactor

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
FORMATS = ("auto", "console", "json")


class TraceJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, `service.name`, `process.pid` (which
    of the processes sharing a console wrote it), the record's extra fields, and `trace_id`/`span_id`
    (hex) when it was logged inside a span."""

    def __init__(self, service_name: str) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service.name": service_name, "process.pid": os.getpid()},
            timestamp=True,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            log_data["trace_id"] = trace.format_trace_id(context.trace_id)
            log_data["span_id"] = trace.format_span_id(context.span_id)


class ConsoleFormatter(logging.Formatter):
    """One readable line per record for a developer's terminal: time, level, logger, message, the
    record's extra fields as `key=value`, and the trace ID inside a span; the stack trace of an
    exception follows on its own lines. Levels are coloured when `colour` is set. Fields with dotted
    names (semantic-convention attributes) are left to JSON: they restate what the message says."""

    _COLOURS: ClassVar[dict[int, str]] = {
        logging.DEBUG: "\x1b[2m",
        logging.INFO: "\x1b[32m",
        logging.WARNING: "\x1b[33m",
        logging.ERROR: "\x1b[31m",
        logging.CRITICAL: "\x1b[1;31m",
    }
    _RESET = "\x1b[0m"

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        if self._colour:
            level = f"{self._COLOURS.get(record.levelno, '')}{level}{self._RESET}"
        extras = {
            name: value for name, value in vars(record).items() if name not in _STANDARD_ATTRIBUTES and "." not in name
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            extras["trace_id"] = trace.format_trace_id(context.trace_id)
        fields = "".join(f" {name}={value}" for name, value in extras.items() if value is not None)
        line = f"{moment} {level} {record.name}: {record.getMessage()}{fields}"
        stacktrace = getattr(record, EXCEPTION_STACKTRACE, None) or (
            self.formatException(record.exc_info) if record.exc_info else None
        )
        return f"{line}\n{stacktrace.rstrip()}" if stacktrace else line


class RedactingFilter(logging.Filter):
    """Blanks secrets in a record's message, extra fields and exception before any handler
    renders it. The exception becomes the `exception.type`, `exception.message` and
    `exception.stacktrace` fields of the semantic conventions, so that both the console and
    OTLP show the redacted text (a driver error's detail may quote a request body)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor
        self._done = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        # One filter serves the console and the OTLP handler: the second sees the record already redacted.
        if getattr(self._done, "record", None) is record:
            return True
        self._done.record = record
        try:
            message = record.getMessage()
        except Exception:  # a broken format: leave it for the handler to report
            return True
        redacted = self._redactor.text(message)
        if record.args or redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info:
            kind, error, trace = record.exc_info
            if kind is not None:
                record.__dict__[EXCEPTION_TYPE] = kind.__name__
                record.__dict__[EXCEPTION_MESSAGE] = str(error)
                record.__dict__[EXCEPTION_STACKTRACE] = "".join(traceback.format_exception(kind, error, trace))
            record.exc_info, record.exc_text = None, None
        for name in vars(record).keys() - _STANDARD_ATTRIBUTES:
            setattr(record, name, self._redactor.field(name, getattr(record, name)))
        return True


class SdkRecordsFilter(logging.Filter):
    """Keeps off OTLP the SDK's own records (failed exports above all) and whatever is logged while
    it exports (at DEBUG, urllib3 logs each export request), so that exports cannot feed themselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return is_instrumentation_enabled() and not record.name.startswith("opentelemetry")


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The console handler; `configure_logging` replaces an earlier one instead of adding."""


def console_formatter(log_format: str, stream: TextIO, service_name: str) -> logging.Formatter:
    """`json`, `console`, or for `auto` readable lines on a terminal and JSON otherwise. Colour only
    on a terminal, and never when `NO_COLOR` is set (https://no-color.org)."""
    if log_format not in FORMATS:
        raise ValueError(f"logging format {log_format!r}: expected one of {', '.join(FORMATS)}")
    terminal = stream.isatty()
    if log_format == "json" or (log_format == "auto" and not terminal):
        return TraceJsonFormatter(service_name)
    return ConsoleFormatter(colour=terminal and not os.environ.get("NO_COLOR"))


def configure_logging(
    telemetry: Telemetry, *, level: str | int = "INFO", stream: TextIO | None = None, log_format: str = "auto"
) -> None:
    """Sets the root logger to `level`, writing to `stream` (stdout by default) in `log_format` (see
    `console_formatter`) and, when `telemetry` exports logs, the same records over OTLP until
    `telemetry.shutdown()`. peewee stays at INFO or above: at DEBUG it logs statement parameters,
    request bodies included."""
    root = logging.getLogger()
    root.setLevel(level)
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    for handler in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(handler)
    redacting = RedactingFilter(telemetry.redactor)
    console = ConsoleHandler(stream or sys.stdout)
    console.setFormatter(console_formatter(log_format, console.stream, telemetry.service_name))
    console.addFilter(redacting)
    root.addHandler(console)
    if telemetry.exports_logs:
        exported = LoggingHandler(logger_provider=telemetry.logger_provider)
        exported.addFilter(SdkRecordsFilter())
        exported.addFilter(redacting)
        root.addHandler(exported)
        telemetry.on_shutdown(lambda: root.removeHandler(exported))
