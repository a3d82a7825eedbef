"""Durations as people type them: `90s`, `15m`, `12h`, `7d`, `2w`, or a sum such as `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
LONGEST = timedelta(days=36_500)
_PART = re.compile(r"([0-9]{1,9})([smhdw])")
_WHOLE = re.compile(r"(?:[0-9]{1,9}[smhdw])+")
OFF = "off"


def parse_duration(text: str) -> timedelta:
    """The duration `text` writes; raises ValueError saying what is expected."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit (s, m, h, d, w), e.g. 90m or 1h30m")
    seconds = sum(int(count) * UNITS[unit] for count, unit in _PART.findall(text))
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"{text!r} is longer than {LONGEST.days} days")
    return timedelta(seconds=seconds)


def parse_retention(text: str) -> timedelta | None:
    """A positive duration, or None for `off` (keep forever)."""
    if text.strip().lower() == OFF:
        return None
    duration = parse_duration(text.strip())
    if not duration:
        raise ValueError(f"{text!r} would keep nothing: give a positive duration, or off")
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest text `parse_duration` reads back as `duration` (whole seconds)."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
