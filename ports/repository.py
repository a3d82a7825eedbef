from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from domain.model.request import RequestStatus, StoredRequest


class RequestRepository(Protocol):
    """Requests by ID. Writes take effect when the enclosing unit of work commits."""

    def add(self, request: StoredRequest) -> None: ...

    def get(self, request_id: str) -> StoredRequest | None: ...

    def record_status(
        self, request_ids: Iterable[str], status: RequestStatus, at: datetime, reason: str | None = None
    ) -> int:
        """Moves each request whose current status `status` may follow; returns how many moved."""
        ...

    def recent(self, limit: int) -> list[StoredRequest]:
        """The `limit` most recently created requests, newest first (ties: the larger ID first)."""
        ...
