"""Standard `logging`: JSON lines on the console, the same records over OTLP, secrets blanked."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, TextIO

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


class TraceJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, `service.name`, the record's extra
    fields, and `trace_id`/`span_id` (hex) when it was logged inside a span."""

    def __init__(self, service_name: str) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service.name": service_name},
            timestamp=True,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            log_data["trace_id"] = trace.format_trace_id(context.trace_id)
            log_data["span_id"] = trace.format_span_id(context.span_id)


class RedactingFilter(logging.Filter):
    """Blanks secrets in a record's message, extra fields and exception before any handler
    renders it. The exception becomes the `exception.type`, `exception.message` and
    `exception.stacktrace` fields of the semantic conventions, so that both the console and
    OTLP show the redacted text (a driver error's detail may quote a request body)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
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
    """The JSON console handler; `configure_logging` replaces an earlier one instead of adding."""


def configure_logging(telemetry: Telemetry, *, level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Sets the root logger to `level`, writing JSON lines to `stream` (stdout by default) and,
    when `telemetry` exports logs, the same records over OTLP until `telemetry.shutdown()`.
    peewee stays at INFO or above: at DEBUG it logs statement parameters, request bodies included."""
    root = logging.getLogger()
    root.setLevel(level)
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    for handler in [h for h in root.handlers if isinstance(h, ConsoleHandler)]:
        root.removeHandler(handler)
    redacting = RedactingFilter(telemetry.redactor)
    console = ConsoleHandler(stream or sys.stdout)
    console.setFormatter(TraceJsonFormatter(telemetry.service_name))
    console.addFilter(redacting)
    root.addHandler(console)
    if telemetry.exports_logs:
        exported = LoggingHandler(logger_provider=telemetry.logger_provider)
        exported.addFilter(SdkRecordsFilter())
        exported.addFilter(redacting)
        root.addHandler(exported)
        telemetry.on_shutdown(lambda: root.removeHandler(exported))
