from __future__ import annotations

import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from domain.model.errors import (
    ThirdPartyRejected,
    ThirdPartyUnauthorized,
    ThirdPartyUnavailable,
    TokenUnavailable,
)
from domain.model.message import RequestMessage, ThreeRequest, UndecodableMessage
from domain.model.offsets import Origin
from domain.model.request import RequestStatus
from domain.model.retry import Backoff
from ports.clock import Clock
from ports.third_party import ThirdPartyClient
from ports.tokens import TokenProvider
from ports.unit_of_work import UnitOfWorkFactory

SOURCE = "cruncan-api"

log = logging.getLogger(__name__)


class DeadLetterCause(enum.StrEnum):
    UNDECODABLE = "undecodable"
    REJECTED = "rejected"
    RETRIES_EXHAUSTED = "retries-exhausted"


@dataclass(frozen=True)
class Forwarded:
    request_id: str
    origin: Origin
    attempts: int


@dataclass(frozen=True)
class DeadLetter:
    """The message goes to the dead-letter topic; `request_id` is None when it could not be decoded."""

    request_id: str | None
    origin: Origin
    cause: DeadLetterCause
    reason: str
    attempts: int


ForwardOutcome = Forwarded | DeadLetter


def three_request(message: RequestMessage) -> ThreeRequest:
    """The request the third party receives: the original body, with the service it came in through
    (`source`) and the user who sent it (`user_id`) as metadata."""
    metadata = {"source": SOURCE, "user_id": message.body.user_id}
    return ThreeRequest(id=message.request_id, metadata=metadata, one_request=message.body)


class ForwardRequest:
    """Forwards one consumed message to the third party and records the outcome on the request.

    A message that cannot be decoded is dead-lettered at once. A rejected token is
    invalidated and the request sent once more with a fresh one. A failure that may pass
    (`ThirdPartyUnavailable`, `TokenUnavailable`) is retried up to `max_attempts` sends in
    all, after an exponential backoff with full jitter, and never sooner than the third
    party's `retry_after` (heeded up to `retry_after_max_s`); a refusal
    (`ThirdPartyRejected`) stops at once. The request becomes `forwarded`, or `failed`
    with the reason. Every message ends in an outcome; only a failure to record it (such as
    `StoreUnavailable`) is raised, and the message must then be processed again.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenProvider,
        third_party: ThirdPartyClient,
        clock: Clock,
        *,
        max_attempts: int = 5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        retry_after_max_s: float = 120.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"forwarding needs at least one attempt, got {max_attempts}")
        self._uow = uow
        self._tokens = tokens
        self._third_party = third_party
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = Backoff(backoff_base_s, backoff_max_s)
        self._retry_after_max_s = retry_after_max_s
        self._jitter = jitter

    def __call__(self, payload: bytes | None, origin: Origin) -> ForwardOutcome:
        try:
            message = RequestMessage.decode(payload)
        except UndecodableMessage as exc:
            log.warning("undecodable message at %s[%d]@%d: %s", origin.topic, origin.partition, origin.offset, exc)
            return DeadLetter(None, origin, DeadLetterCause.UNDECODABLE, f"undecodable message: {exc}", attempts=0)
        outcome = self._deliver(three_request(message), origin)
        self._record(outcome)
        if isinstance(outcome, DeadLetter):
            log.warning(
                "request %s failed after %d attempt(s): %s", outcome.request_id, outcome.attempts, outcome.reason
            )
        else:
            log.info("request %s forwarded after %d attempt(s)", outcome.request_id, outcome.attempts)
        return outcome

    def _deliver(self, request: ThreeRequest, origin: Origin) -> ForwardOutcome:
        attempts = 0
        token_renewed = False
        while True:
            attempts += 1
            try:
                self._send_once(request)
            except ThirdPartyUnauthorized as exc:
                if token_renewed:
                    reason = f"the third party rejected a freshly issued token: {exc}"
                    return DeadLetter(request.id, origin, DeadLetterCause.REJECTED, reason, attempts)
                token_renewed = True
            except ThirdPartyRejected as exc:
                return DeadLetter(request.id, origin, DeadLetterCause.REJECTED, str(exc), attempts)
            except (ThirdPartyUnavailable, TokenUnavailable) as exc:
                if attempts >= self._max_attempts:
                    reason = f"gave up after {attempts} attempts: {exc}"
                    return DeadLetter(request.id, origin, DeadLetterCause.RETRIES_EXHAUSTED, reason, attempts)
                delay = self._delay(attempts, exc)
                log.warning("request %s: attempt %d failed (%s); retrying in %.2f s", request.id, attempts, exc, delay)
                self._clock.sleep(delay)
            else:
                return Forwarded(request.id, origin, attempts)

    def _send_once(self, request: ThreeRequest) -> None:
        token = self._tokens.get()
        try:
            self._third_party.send(request, token)
        except ThirdPartyUnauthorized:
            self._tokens.invalidate(token)
            raise

    def _delay(self, attempt: int, error: Exception) -> float:
        delay = self._backoff.full_jitter(attempt, self._jitter)
        if isinstance(error, ThirdPartyUnavailable) and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self._retry_after_max_s))
        return delay

    def _record(self, outcome: ForwardOutcome) -> None:
        if outcome.request_id is None:
            return
        if isinstance(outcome, Forwarded):
            status, reason = RequestStatus.FORWARDED, None
        else:
            status, reason = RequestStatus.FAILED, outcome.reason
        with self._uow() as uow:
            uow.requests.record_status([outcome.request_id], status, self._clock.now(), reason)
            uow.commit()
