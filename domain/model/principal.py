"""Who called, as a verified bearer token says, and what the token allows them to do."""

from __future__ import annotations

from dataclasses import dataclass

SUBMIT_SCOPE = "one:write"
READ_SCOPE = "one:read"


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes
