from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from ports.dead_letter_reader import RedrivenLetters
from ports.idempotency import IdempotencyKeys
from ports.outbox import Outbox
from ports.repository import RequestRepository


class UnitOfWork(Protocol):
    """Transactional: nothing is kept unless `commit()` is called before the block exits."""

    requests: RequestRepository
    outbox: Outbox
    idempotency_keys: IdempotencyKeys
    redriven_letters: RedrivenLetters

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
