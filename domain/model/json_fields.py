"""Checks of the fields of a decoded JSON document, each failure an `InvalidRequest` naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping

from domain.model.errors import InvalidRequest


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
    """The JSON path of member `name`: `data[0].key`, or `body["odd name"]` when it is not a plain name."""
    if name.isidentifier():
        return name if where == "body" else f"{where}.{name}"
    return f"{where}[{json.dumps(name)}]"


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
