"""Decoding a request body as strict JSON (RFC 8259): whatever the bytes, either a value or `MalformedJson`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

# Python refuses to convert integer literals longer than this (CVE-2020-10735); checked first,
# so that a body cannot make the conversion spend time or raise a bare ValueError.
INT_DIGITS_MAX = sys.get_int_max_str_digits() or 4300
SHOWN_KEY_MAX = 64


class MalformedJson(ValueError):
    """The body is not one JSON value this API accepts; the message says what is wrong and where."""


class DuplicateKey(MalformedJson):
    """An object names a member twice: parsers disagree on which one wins, so neither does."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= SHOWN_KEY_MAX else f"{key[:SHOWN_KEY_MAX]}..."
        super().__init__(f"an object repeats the key {json.dumps(shown)}")
        self.key = key


def decode_json(data: bytes) -> object:
    """The JSON value in `data`, which must be UTF-8 (RFC 8259, 8.1). Refuses duplicate keys, `NaN` and
    `Infinity`, integers longer than `INT_DIGITS_MAX` digits, and nesting deeper than the interpreter can follow."""
    try:
        return json.loads(
            data.decode(), object_pairs_hook=_unique_members, parse_int=_integer, parse_constant=_no_constant
        )
    except MalformedJson:
        raise
    except RecursionError:
        raise MalformedJson("the body nests arrays or objects too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}") from None


def _unique_members(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return members


def _integer(literal: str) -> int:
    if len(literal.lstrip("-")) > INT_DIGITS_MAX:
        raise MalformedJson(f"the body holds an integer of more than {INT_DIGITS_MAX} digits")
    return int(literal)


def _no_constant(name: str) -> object:
    raise MalformedJson(f"the body is not valid JSON: {name} is not a JSON value")
