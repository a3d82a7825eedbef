from __future__ import annotations

from domain.model.errors import RequestNotFound
from domain.model.request import StoredRequest
from ports.unit_of_work import UnitOfWorkFactory


class GetRequest:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def __call__(self, request_id: str) -> StoredRequest:
        with self._uow() as uow:
            found = uow.requests.get(request_id)
        if found is None:
            raise RequestNotFound(request_id)
        return found
