"""The ingested request: its body, its validation rules and its lifecycle.

Limits (enforced by `OneRequest.from_json`, published in the OpenAPI document):
- `user_id`: 1 to 128 characters, not only white space.
- `prompt`: at most 10,000 characters (may be empty).
- `data`: at most 100 items; each item is an object with exactly `key` (1 to 256
  characters) and `value` (at most 4,096 characters), both strings.
- No other fields are accepted: an unknown field is a client bug worth reporting.
- Strings must be valid Unicode without NUL characters (Postgres cannot store NUL, and a lone
  surrogate cannot be encoded as UTF-8).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from domain.model.errors import InvalidRequest
from domain.model.json_fields import expect_object, expect_string

USER_ID_MAX = 128
PROMPT_MAX = 10_000
DATA_ITEMS_MAX = 100
KEY_MAX = 256
VALUE_MAX = 4_096
# The string rules as JSON Schema patterns (Python `re` semantics: `\s` is what `str.strip` removes).
TEXT_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


@dataclass(frozen=True)
class DataItem:
    key: str
    value: str


@dataclass(frozen=True)
class OneRequest:
    user_id: str
    prompt: str
    data: tuple[DataItem, ...] = ()

    @classmethod
    def from_json(cls, body: object) -> OneRequest:
        """Validate a decoded JSON document; raises `InvalidRequest` naming the field."""
        fields = expect_object(body, "body", {"user_id", "prompt", "data"}, required={"user_id"})
        user_id = expect_string(fields["user_id"], "user_id", maximum=USER_ID_MAX)
        if not user_id.strip():
            raise InvalidRequest("user_id", "must not be empty")
        prompt = expect_string(fields.get("prompt", ""), "prompt", maximum=PROMPT_MAX)
        raw_data = fields.get("data", [])
        if not isinstance(raw_data, list):
            raise InvalidRequest("data", "must be an array")
        if len(raw_data) > DATA_ITEMS_MAX:
            raise InvalidRequest("data", f"must hold at most {DATA_ITEMS_MAX} items")
        return cls(user_id=user_id, prompt=prompt, data=tuple(_data_item(item, i) for i, item in enumerate(raw_data)))

    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "prompt": self.prompt,
            "data": [{"key": item.key, "value": item.value} for item in self.data],
        }


def _data_item(item: object, index: int) -> DataItem:
    where = f"data[{index}]"
    fields = expect_object(item, where, {"key", "value"}, required={"key", "value"})
    key = expect_string(fields["key"], f"{where}.key", maximum=KEY_MAX)
    if not key:
        raise InvalidRequest(f"{where}.key", "must not be empty")
    return DataItem(key=key, value=expect_string(fields["value"], f"{where}.value", maximum=VALUE_MAX))


class RequestStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    PUBLISHED = "published"
    FORWARDED = "forwarded"
    FAILED = "failed"

    def may_follow(self, current: RequestStatus) -> bool:
        """Whether a request in `current` may move to this status.

        The worker may finish a request before the relay has recorded its publication,
        so `forwarded` and `failed` may follow `accepted` directly; `published` never
        overwrites an outcome. A redelivered message may turn `failed` into `forwarded`.
        """
        return current in _PREDECESSORS[self]

    @property
    def predecessors(self) -> frozenset[RequestStatus]:
        return _PREDECESSORS[self]


_PREDECESSORS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.ACCEPTED: frozenset(),
    RequestStatus.PUBLISHED: frozenset({RequestStatus.ACCEPTED}),
    RequestStatus.FORWARDED: frozenset({RequestStatus.ACCEPTED, RequestStatus.PUBLISHED, RequestStatus.FAILED}),
    RequestStatus.FAILED: frozenset({RequestStatus.ACCEPTED, RequestStatus.PUBLISHED}),
}

FINISHED = frozenset({RequestStatus.FORWARDED, RequestStatus.FAILED})
"""Statuses after which nothing more happens to a request unless it is re-driven."""


@dataclass(frozen=True)
class StoredRequest:
    request_id: str
    body: OneRequest
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = field(default=None)
    # The subject of the bearer token it was submitted with; None when authentication is off.
    submitted_by: str | None = field(default=None)
    redrive_count: int = 0
    last_redriven_at: datetime | None = None

    def redriven(self, at: datetime) -> StoredRequest:
        """This failed request sent again: `accepted`, with one more re-drive counted at `at`."""
        if self.status is not RequestStatus.FAILED:
            raise ValueError(f"only a failed request is re-driven, not a {self.status.value} one")
        return replace(
            self,
            status=RequestStatus.ACCEPTED,
            updated_at=at,
            failure_reason=None,
            redrive_count=self.redrive_count + 1,
            last_redriven_at=at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "request": self.body.to_json(),
            "status": self.status.value,
            "failure_reason": self.failure_reason,
            "submitted_by": self.submitted_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "redrive_count": self.redrive_count,
            "last_redriven_at": None if self.last_redriven_at is None else self.last_redriven_at.isoformat(),
        }
