from datetime import datetime
from typing import Protocol

from domain.model.idempotency import IdempotencyRecord


class IdempotencyKeys(Protocol):
    """Idempotency keys, each written in the unit of work that stores the request it names.

    `claim` holds a key for the enclosing unit of work until that ends, raising `IdempotencyKeyInUse`
    while another unit holds it, and returns the record committed under the key unless it expired by
    `now`: an expired record counts as absent. `add` a key only once this unit claimed it; adding a key
    another unit stored fails with `IdempotencyKeyInUse`, at the latest on commit.
    """

    def claim(self, key: str, now: datetime) -> IdempotencyRecord | None: ...

    def add(self, record: IdempotencyRecord) -> None: ...

    def purge_expired(self, now: datetime) -> int:
        """Deletes every record that expired at or before `now`; returns how many."""
        ...
