"""Checks of the fields of a decoded JSON document, each failure an `InvalidRequest` naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping

from domain.model.errors import InvalidRequest

SHOWN_NAME_MAX = 32


def expect_object(value: object, where: str, allowed: set[str], required: set[str]) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise InvalidRequest(where, "must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InvalidRequest(member_path(where, unknown[0]), "is not a known field")
    for name in sorted(required):
        if name not in value:
            prefix = "" if where == "body" else f"{where}."
            raise InvalidRequest(f"{prefix}{name}", "is required")
    return value


def member_path(where: str, name: str) -> str:
    """The JSON path of member `name`: `data[0].key`, or `body["odd name"]` when it is not a plain name, the name
    cut to `SHOWN_NAME_MAX` characters and escaped to ASCII so an error or log line stays one short line."""
    if name.isidentifier() and len(name) <= SHOWN_NAME_MAX:
        return name if where == "body" else f"{where}.{name}"
    shown = name if len(name) <= SHOWN_NAME_MAX else f"{name[:SHOWN_NAME_MAX]}..."
    return f"{where}[{json.dumps(shown)}]"


def expect_string(value: object, where: str, maximum: int) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(where, "must be a string")
    if len(value) > maximum:
        raise InvalidRequest(where, f"must be at most {maximum} characters")
    if "\x00" in value:
        raise InvalidRequest(where, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(where, "must be valid Unicode (no lone surrogates)") from None
    return value
