from datetime import datetime
from typing import Protocol

from domain.model.idempotency import IdempotencyRecord


class IdempotencyKeys(Protocol):
    """Idempotency keys, each written in the unit of work that stores the request it names.

    `claim` returns the record committed under a key unless it expired by `now`, holding nothing: any
    number of units may read a stored key at once. A key without such a record (an expired one counts
    as absent) is held for the enclosing unit until that ends; `IdempotencyKeyInUse` while another unit
    holds it. `add` a key only once this unit claimed it; adding a key another unit stored fails with
    `IdempotencyKeyInUse`, at the latest on commit.
    """

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None: ...

    def add(self, record: IdempotencyRecord) -> None: ...

    def purge_expired(self, now: datetime, limit: int | None = None) -> int:
        """Deletes the records (at most `limit`) that expired at or before `now`; returns how many.
        A record another unit of work holds is skipped."""
        ...

    def count_expired(self, now: datetime) -> int: ...
