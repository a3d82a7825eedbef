from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from domain.model.redrive import RedriveSelection
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

    def failed(self, selection: RedriveSelection, limit: int) -> list[StoredRequest]:
        """Up to `limit` requests `selection` matches, those that failed first first; locks nothing."""
        ...

    def redrive(self, selection: RedriveSelection, limit: int, at: datetime) -> list[StoredRequest]:
        """Moves up to `limit` requests `selection` matches back to `accepted`, each re-drive counted;
        returns them as moved. A request another unit of work is re-driving is skipped, and one that
        is no longer failed when this unit commits is not moved."""
        ...

    def count_finished_before(self, cutoff: datetime) -> int:
        """How many forwarded or failed requests created before `cutoff` have no unsent message."""
        ...

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` of the requests `count_finished_before` counts, skipping those another
        unit of work holds; returns how many."""
        ...
