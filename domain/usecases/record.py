from __future__ import annotations

from domain.model.outcomes import ForwardOutcome
from domain.services.outcomes import record_outcome
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory


class RecordOutcome:
    """Records a forwarding outcome that `ForwardRequest` reached but could not store
    (`OutcomeNotRecorded`), without sending the request again; raises while the store is down."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def __call__(self, outcome: ForwardOutcome) -> None:
        record_outcome(self._uow, self._clock, outcome)
