from __future__ import annotations

from contextlib import suppress
from datetime import timedelta

from domain.model.errors import DuplicateRequest, IdempotencyKeyReused
from domain.model.idempotency import DEFAULT_WINDOW, IdempotencyRecord, fingerprint, scoped_key, validated_key
from domain.model.message import OutboxMessage, RequestMessage
from domain.model.request import OneRequest, RequestStatus, StoredRequest
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.unit_of_work import UnitOfWorkFactory

ID_ATTEMPTS = 3
"""How many IDs one request may draw: the store refuses an ID it already holds, which happens when
two processes share a Snowflake node (the same `ids.node_ip`) and draw in the same millisecond."""


class IngestRequest:
    """Validates a body, stores it with a new ID and records the message to publish, all in one
    unit of work; the ID is returned only once that unit commits. With an idempotency key, a body
    stored under that key within `idempotency_window` is not stored again: its first ID is returned.
    An authenticated client's keys are its own (`submitted_by` scopes them).
    An ID the store already holds is drawn again, in a new unit of work, up to `ID_ATTEMPTS` times."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        *,
        idempotency_window: timedelta = DEFAULT_WINDOW,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._window = idempotency_window

    def __call__(self, body: object, idempotency_key: str | None = None, submitted_by: str | None = None) -> str:
        """Raises `InvalidIdempotencyKey`, `InvalidRequest`, `IdempotencyKeyInUse` (the key's first
        request is still being stored) or `IdempotencyKeyReused` (the key came with another body)."""
        key = None if idempotency_key is None else scoped_key(validated_key(idempotency_key), submitted_by)
        request = OneRequest.from_json(body)
        for _ in range(ID_ATTEMPTS - 1):
            with suppress(DuplicateRequest):
                return self._store(request, key, submitted_by)
        return self._store(request, key, submitted_by)

    def _store(self, request: OneRequest, key: str | None, submitted_by: str | None) -> str:
        now = self._clock.now()
        with self._uow() as uow:
            if key is not None:
                earlier = uow.idempotency_keys.claim(key, now)
                if earlier is not None:
                    if earlier.fingerprint != fingerprint(request):
                        raise IdempotencyKeyReused("this idempotency key was used with a different body")
                    return earlier.request_id
            request_id = self._ids.next_id()
            stored = StoredRequest(
                request_id, request, RequestStatus.ACCEPTED, created_at=now, updated_at=now, submitted_by=submitted_by
            )
            uow.requests.add(stored)
            uow.outbox.add(
                OutboxMessage(key=request_id, payload=RequestMessage(request_id, request).encode(), created_at=now)
            )
            if key is not None:
                uow.idempotency_keys.add(
                    IdempotencyRecord(
                        key, fingerprint(request), request_id, created_at=now, expires_at=now + self._window
                    )
                )
            uow.commit()
        return request_id
