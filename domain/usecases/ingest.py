from __future__ import annotations

from domain.model.message import OutboxMessage, RequestMessage
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.unit_of_work import UnitOfWorkFactory


class IngestRequest:
    """Validates a body, stores it with a new ID and records the message to publish,
    all in one unit of work. The ID is returned only once that unit of work commits."""

    def __init__(self, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    def __call__(self, body: object) -> str:
        request = OneRequest.from_json(body)
        request_id = self._ids.next_id()
        now = self._clock.now()
        stored = StoredRequest(request_id, request, RequestStatus.ACCEPTED, created_at=now, updated_at=now)
        message = OutboxMessage(key=request_id, payload=RequestMessage(request_id, request).encode(), created_at=now)
        with self._uow() as uow:
            uow.requests.add(stored)
            uow.outbox.add(message)
            uow.commit()
        return request_id
