"""Recording how forwarding a request ended, on the request itself."""

from __future__ import annotations

from domain.model.outcomes import Forwarded, ForwardOutcome
from domain.model.request import RequestStatus
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory


def record_outcome(uow: UnitOfWorkFactory, clock: Clock, outcome: ForwardOutcome) -> None:
    """Marks the request `forwarded`, or `failed` with the reason, in one unit of work; an
    outcome without a request ID (an undecodable message) has no request to mark."""
    if outcome.request_id is None:
        return
    if isinstance(outcome, Forwarded):
        status, reason = RequestStatus.FORWARDED, None
    else:
        status, reason = RequestStatus.FAILED, outcome.reason
    with uow() as unit:
        unit.requests.record_status([outcome.request_id], status, clock.now(), reason)
        unit.commit()
