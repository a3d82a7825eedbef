from typing import Protocol

from domain.model.lock import LockState


class JobLock(Protocol):
    """One holder at a time, until it releases the lock or its TTL lapses; it saves work, never guards correctness."""

    def acquire(self) -> LockState: ...

    def renew(self) -> LockState:
        """HELD, with the TTL restarted, while this holder still has the lock."""
        ...

    def release(self) -> None:
        """Frees the lock if this holder still has it; never raises."""
        ...
