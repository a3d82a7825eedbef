"""What trying to take a job lock found."""

from __future__ import annotations

import enum


class LockState(enum.StrEnum):
    HELD = "held"
    """This holder has the lock, for its TTL."""
    BUSY = "busy"
    """Another holder has it."""
    UNREACHABLE = "unreachable"
    """The lock's server did not answer: nobody can tell who holds it."""
