from __future__ import annotations

from domain.model.errors import RequestNotFound
from domain.model.request import StoredRequest
from domain.model.snowflake import is_snowflake
from ports.unit_of_work import UnitOfWorkFactory


class GetRequest:
    """A stored request by ID; an ID that cannot be one is not found without asking the store."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def __call__(self, request_id: str) -> StoredRequest:
        if not is_snowflake(request_id):
            raise RequestNotFound(request_id, malformed=True)
        with self._uow() as uow:
            found = uow.requests.get(request_id)
        if found is None:
            raise RequestNotFound(request_id)
        return found


class ListRecentRequests:
    """The most recently created requests, newest first, at most `limit` of them."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def __call__(self, limit: int) -> list[StoredRequest]:
        with self._uow() as uow:
            return uow.requests.recent(limit)
