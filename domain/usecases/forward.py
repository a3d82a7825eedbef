from __future__ import annotations

import logging
import random
from collections.abc import Callable

from domain.model.errors import (
    OutcomeNotRecorded,
    ThirdPartyRejected,
    ThirdPartyUnauthorized,
    ThirdPartyUnavailable,
    TokenUnavailable,
)
from domain.model.message import RequestMessage, ThreeRequest
from domain.model.outcomes import DeadLetter, DeadLetterCause, Forwarded, ForwardOutcome
from domain.model.retry import RetryPolicy
from domain.services.outcomes import record_outcome
from ports.clock import Clock
from ports.third_party import ThirdPartyClient
from ports.tokens import TokenProvider
from ports.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)

DEFAULT_RETRY = RetryPolicy(base_s=0.2, max_s=10.0, attempts=5)


def three_request(message: RequestMessage, source: str) -> ThreeRequest:
    """The request the third party receives: the body, with the service it came in through
    (`source`) and the user who sent it (`user_id`) as metadata."""
    metadata = {"source": source, "user_id": message.body.user_id}
    return ThreeRequest(id=message.request_id, metadata=metadata, one_request=message.body)


class ForwardRequest:
    """Sends one request to the third party and records the outcome on the request.

    Every send counts against `retry.attempts` (F). A refused token is invalidated and the
    request sent again with a new one; `ThirdPartyUnavailable` is sent again after a full-jitter
    backoff, never sooner than its `retry_after` (heeded up to `retry_after_max_s`). A refusal,
    no token (the token provider retries the token API itself, T fetches at most) or the F-th
    failure ends in a `DeadLetter`. Worst case per call: F sends and F x T token fetches (each
    send asks for one token). A failure to record raises `OutcomeNotRecorded` with the outcome.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenProvider,
        third_party: ThirdPartyClient,
        clock: Clock,
        *,
        source: str = "cruncan-api",
        retry: RetryPolicy = DEFAULT_RETRY,
        retry_after_max_s: float = 120.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if retry.attempts < 1:
            raise ValueError(f"forwarding needs a limit of at least one attempt, got {retry.attempts}")
        self._uow = uow
        self._tokens = tokens
        self._third_party = third_party
        self._clock = clock
        self._source = source
        self._retry = retry
        self._retry_after_max_s = retry_after_max_s
        self._jitter = jitter

    def __call__(self, message: RequestMessage) -> ForwardOutcome:
        outcome = self._deliver(three_request(message, self._source))
        try:
            record_outcome(self._uow, self._clock, outcome)
        except Exception as exc:
            raise OutcomeNotRecorded(outcome, exc) from exc
        if isinstance(outcome, DeadLetter):
            log.warning(
                "request %s failed after %d attempt(s): %s", message.request_id, outcome.attempts, outcome.reason
            )
        else:
            log.info("request %s forwarded after %d attempt(s)", message.request_id, outcome.attempts)
        return outcome

    def _deliver(self, request: ThreeRequest) -> ForwardOutcome:
        attempts = 0
        refreshed = False  # this send uses the token fetched after the last send's was refused
        failure: Exception
        while True:
            attempts += 1
            try:
                self._send_once(request)
            except ThirdPartyUnauthorized as exc:
                if refreshed:
                    reason = f"the third party rejected a freshly issued token: {exc}"
                    return DeadLetter(request.id, DeadLetterCause.REJECTED, reason, attempts)
                refreshed, failure = True, exc
            except ThirdPartyRejected as exc:
                return DeadLetter(request.id, DeadLetterCause.REJECTED, str(exc), attempts)
            except TokenUnavailable as exc:
                return DeadLetter(request.id, DeadLetterCause.RETRIES_EXHAUSTED, f"no access token: {exc}", attempts)
            except ThirdPartyUnavailable as exc:
                refreshed, failure = False, exc
                self._pause(request, attempts, exc)
            else:
                return Forwarded(request.id, attempts)
            if self._retry.exhausted(attempts):
                reason = f"gave up after {attempts} attempts: {failure}"
                return DeadLetter(request.id, DeadLetterCause.RETRIES_EXHAUSTED, reason, attempts)

    def _send_once(self, request: ThreeRequest) -> None:
        token = self._tokens.get()
        try:
            self._third_party.send(request, token)
        except ThirdPartyUnauthorized:
            self._tokens.invalidate(token)
            raise

    def _pause(self, request: ThreeRequest, attempts: int, error: ThirdPartyUnavailable) -> None:
        if self._retry.exhausted(attempts):
            return
        delay = self._retry.full_jitter(attempts, self._jitter)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self._retry_after_max_s))
        log.warning("request %s: attempt %d failed (%s); retrying in %.2f s", request.id, attempts, error, delay)
        self._clock.sleep(delay)
