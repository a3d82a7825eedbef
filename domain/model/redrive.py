"""Which failed requests a re-drive sends again, and the header that counts the re-drive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model.request import RequestStatus, StoredRequest

REDRIVE_HEADER = "cruncan-redrive-count"
"""Outbox header of a re-driven request's message: its `redrive_count`, the re-drive's fencing token."""


@dataclass(frozen=True)
class RedriveSelection:
    """Failed requests whose failure reason contains `cause`, that failed before `failed_before`
    and after `failed_after`, and whose ID is one of `request_ids`; a criterion left empty takes all."""

    cause: str | None = None
    failed_before: datetime | None = None
    failed_after: datetime | None = None
    request_ids: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        now: datetime,
        *,
        cause: str | None = None,
        older_than: timedelta | None = None,
        newer_than: timedelta | None = None,
        request_ids: frozenset[str] = frozenset(),
    ) -> RedriveSelection:
        """The selection of requests that failed more than `older_than` and less than `newer_than` before `now`."""
        return cls(
            cause=cause,
            failed_before=None if older_than is None else now - older_than,
            failed_after=None if newer_than is None else now - newer_than,
            request_ids=request_ids,
        )

    def matches(self, request: StoredRequest) -> bool:
        return (
            request.status is RequestStatus.FAILED
            and (self.cause is None or self.cause in (request.failure_reason or ""))
            and (self.failed_before is None or request.updated_at < self.failed_before)
            and (self.failed_after is None or request.updated_at > self.failed_after)
            and (not self.request_ids or request.request_id in self.request_ids)
        )


def redrive_order(request: StoredRequest) -> tuple[datetime, str]:
    """Re-drives take the requests that failed first first."""
    return request.updated_at, request.request_id
