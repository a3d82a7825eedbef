"""argparse types of the job commands' options: each turns the text or says in one line what is wrong."""

from __future__ import annotations

import argparse
from datetime import timedelta

from domain.model.snowflake import DIGITS
from entrypoints.durations import parse_duration

CAUSE_MAX = 1000


def duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 999999999")
    return int(text)


def request_id(text: str) -> str:
    if len(text) != DIGITS or not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a request ID: expected {DIGITS} digits")
    return text


def cause(text: str) -> str:
    if not text or len(text) > CAUSE_MAX or "\x00" in text:
        raise argparse.ArgumentTypeError(f"a cause is 1 to {CAUSE_MAX} characters of a failure reason, without NUL")
    return text
