"""The message that ingestion publishes and forwarding consumes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.model.errors import InvalidRequest
from domain.model.request import OneRequest
from domain.model.snowflake import DIGITS, is_snowflake


class UndecodableMessage(ValueError):
    """A message on the topic that no version of this code can read (a poison message)."""


@dataclass(frozen=True)
class RequestMessage:
    """Wire format: `{"request_id": "...", "request": <the validated body>}` as UTF-8 JSON."""

    request_id: str
    body: OneRequest

    def encode(self) -> bytes:
        document = {"request_id": self.request_id, "request": self.body.to_json()}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, payload: bytes | None) -> RequestMessage:
        """The message in `payload`, checked by the rules HTTP applies (a request ID of the form the ID
        generator issues, a body `OneRequest` accepts); any other payload raises `UndecodableMessage`."""
        if payload is None:
            raise UndecodableMessage("message has no value")
        try:
            document = json.loads(payload)
        except RecursionError:
            raise UndecodableMessage("value nests arrays or objects too deeply") from None
        except ValueError as exc:  # not UTF-8, not JSON, or an integer too long to convert
            raise UndecodableMessage(f"value is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise UndecodableMessage("value is not a JSON object")
        request_id = document.get("request_id")
        if not isinstance(request_id, str) or not is_snowflake(request_id):
            raise UndecodableMessage(f"request_id is missing or not a request ID ({DIGITS} decimal digits)")
        try:
            body = OneRequest.from_json(document.get("request"))
        except InvalidRequest as exc:
            raise UndecodableMessage(f"request.{exc.field}: {exc.problem}") from None
        return cls(request_id=request_id, body=body)


@dataclass(frozen=True)
class OutboxMessage:
    """A message recorded in the same unit of work as its request, published later."""

    key: str
    payload: bytes
    created_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingMessage:
    """An outbox message claimed for publication, with the store's identity for it."""

    outbox_id: int
    message: OutboxMessage


@dataclass(frozen=True)
class ThreeRequest:
    """What the third party receives: the request's ID, metadata about who sent it, and its body."""

    id: str
    metadata: Mapping[str, str]
    one_request: OneRequest

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "metadata": dict(self.metadata), "one_request": self.one_request.to_json()}
