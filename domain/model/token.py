"""OAuth2 access tokens as the token API issues them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it expires; its value never appears in `repr` or `str`."""

    value: str = field(repr=False)
    token_type: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at
