"""Errors the core raises; adapters translate their failures into these."""

from __future__ import annotations

from domain.model.outcomes import ForwardOutcome


class CruncanError(Exception):
    """Base of every error the core knows how to explain."""


class InvalidRequest(CruncanError):
    """A request body broke a rule; `field` names the offending part (a JSON path)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class RequestNotFound(CruncanError):
    """No request has this ID; `malformed` when the ID could not be one, which is then left out of the message."""

    def __init__(self, request_id: str, *, malformed: bool = False) -> None:
        shown = "this id: a request id is 20 decimal digits" if malformed else f"id {request_id!r}"
        super().__init__(f"no request {'has' if malformed else 'with'} {shown}")
        self.request_id = request_id
        self.malformed = malformed


class DuplicateRequest(CruncanError):
    """A request with this ID is already stored: the ID generator issued an ID twice."""


class RedriveConflict(CruncanError):
    """A request changed while a unit of work was re-driving it; that unit kept nothing."""


class StoreUnavailable(CruncanError):
    """The request store cannot be reached; the caller may retry later. `summary` says so in words
    for clients; the message adds the driver's `reason` (refused password, refused connection...) for logs."""

    def __init__(self, summary: str, reason: str | None = None) -> None:
        super().__init__(f"{summary}: {reason}" if reason else summary)
        self.summary = summary
        self.reason = reason


class BrokerUnavailable(CruncanError):
    """The message broker cannot be reached now; publishing and consuming may work again later."""


class ClockMovedBackwards(CruncanError):
    """The clock went back further than the ID generator is willing to wait out."""

    def __init__(self, behind_ms: int, tolerance_ms: int) -> None:
        super().__init__(
            f"clock moved backwards by {behind_ms} ms (tolerance {tolerance_ms} ms); "
            "refusing to issue IDs that could repeat"
        )
        self.behind_ms = behind_ms
        self.tolerance_ms = tolerance_ms


class TokenUnavailable(CruncanError):
    """No access token could be obtained; asking the token API again later may help."""


class TokenRefused(TokenUnavailable):
    """The token API refused this client (for example bad credentials); asking again will not help."""


class ThirdPartyError(CruncanError):
    """The third party did not accept a request; subclasses say whether sending it again may help."""


class ThirdPartyUnavailable(ThirdPartyError):
    """The third party could not take the request now; `retry_after` is how long it asked us to wait, if it did."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ThirdPartyUnauthorized(ThirdPartyError):
    """The third party rejected the access token."""


class ThirdPartyRejected(ThirdPartyError):
    """The third party refused the request itself; sending it again will not help."""


class InvalidIdempotencyKey(CruncanError):
    """An idempotency key breaks the length or character rules; `problem` says which."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"idempotency key: {problem}")
        self.problem = problem


class IdempotencyKeyInUse(CruncanError):
    """Another request with this idempotency key is still being stored; retrying later gets its answer."""


class IdempotencyKeyReused(CruncanError):
    """This idempotency key was already used with a different body; a retry must send the same body."""


class OutcomeNotRecorded(CruncanError):
    """A request reached `outcome` but the store did not record it; record it again, do not resend it."""

    def __init__(self, outcome: ForwardOutcome, cause: Exception) -> None:
        super().__init__(f"outcome of request {outcome.request_id} not recorded: {cause}")
        self.outcome = outcome


class SourceUnavailable(CruncanError):
    """The message source cannot be set up now (for example the broker is unreachable); try again later."""


class CommitFailed(CruncanError):
    """Positions were not committed; they stay uncommitted and may be committed again later."""


class DeadLetterUnavailable(CruncanError):
    """The dead-letter queue did not acknowledge a message: it is not kept, and must be sent again."""


class Unauthenticated(CruncanError):
    """No bearer token came, or the one that came is not valid; `reason` says which check refused it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(CruncanError):
    """The token is valid but lacks `scope`."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"the token lacks the scope {scope!r}")
        self.scope = scope


class VerificationUnavailable(CruncanError):
    """No signing keys could be had to verify a token with; asking again later may help."""
