import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.memory.clock import ManualClock
from adapters.memory.third_party import InMemoryTokenIssuer
from domain.model.errors import TokenRefused, TokenUnavailable
from domain.model.retry import RetryPolicy
from domain.services.tokens import TokenCache

BACKOFF_BASE_S = 0.1
BACKOFF_MAX_S = 5.0


def token_cache(issuer, clock, skew_s=30.0, max_attempts=5):
    return TokenCache(
        issuer,
        clock,
        expiry_skew_s=skew_s,
        retry=RetryPolicy(BACKOFF_BASE_S, BACKOFF_MAX_S, max_attempts),
    )


def refresh_after(lifetime_s, skew_s):
    """The documented rule: a token is due `skew` before expiry, but not before half its lifetime."""
    return timedelta(seconds=lifetime_s - min(skew_s, lifetime_s / 2))


schedules = st.lists(
    st.one_of(
        st.just(("get", 0)),
        st.tuples(st.just("advance"), st.integers(0, 7_200)),
        st.just(("invalidate", 0)),
    ),
    max_size=60,
)


@given(schedules, st.integers(1, 7_200), st.integers(0, 120))
def test_a_token_is_fetched_once_per_expiry_and_never_handed_out_expired(schedule, lifetime_s, skew_s):
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, lifetime_s=lifetime_s)
    cache = token_cache(issuer, clock, skew_s=skew_s)
    held, due_at, expected_fetches = None, None, 0

    for action, seconds in schedule:
        if action == "advance":
            clock.advance(seconds)
        elif action == "invalidate" and held is not None:
            cache.invalidate(held)
            due_at = None
        elif action == "get":
            due = due_at is None or clock.now() >= due_at
            if due:
                expected_fetches += 1
                due_at = clock.now() + refresh_after(lifetime_s, skew_s)
            token = cache.get()
            assert not token.expired(clock.now())
            assert issuer.accepts(token.value)
            assert (token == held) is not due
            held = token
        assert issuer.fetches == expected_fetches


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 200), min_size=1, max_size=5), st.integers(2, 12))
def test_concurrent_callers_share_one_fetch_per_expiry(jumps, callers):
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, lifetime_s=120, latency_s=0.005)
    cache = token_cache(issuer, clock, skew_s=30)
    due_at, expected_fetches = None, 0

    for jump in jumps:
        clock.advance(jump)
        if due_at is None or clock.now() >= due_at:
            expected_fetches += 1
            due_at = clock.now() + timedelta(seconds=90)
        tokens = _get_concurrently(cache, callers)

        assert issuer.fetches == expected_fetches
        assert len(set(tokens)) == 1
        assert not tokens[0].expired(clock.now())


@given(st.integers(0, 4))
def test_failed_fetches_are_retried_with_exponential_backoff(failures):
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock)
    issuer.fail_next(failures)
    cache = token_cache(issuer, clock)

    token = cache.get()

    assert issuer.accepts(token.value)
    assert issuer.fetches == failures + 1
    assert clock.slept == [BACKOFF_BASE_S * 2**n for n in range(failures)]


@given(st.integers(1, 6), st.integers(0, 4))
def test_after_max_attempts_the_failure_surfaces_and_the_next_call_tries_again(max_attempts, extra_failures):
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock)
    issuer.fail_next(max_attempts + extra_failures)
    cache = token_cache(issuer, clock, max_attempts=max_attempts)

    with pytest.raises(TokenUnavailable, match=f"after {max_attempts} attempts"):
        cache.get()

    assert issuer.fetches == max_attempts
    assert len(clock.slept) == max_attempts - 1
    assert all(0 < pause <= BACKOFF_MAX_S for pause in clock.slept)
    if extra_failures < max_attempts:
        assert issuer.accepts(cache.get().value)


def test_five_attempts_by_default():
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock)
    issuer.fail_next(5)

    with pytest.raises(TokenUnavailable, match="after 5 attempts"):
        TokenCache(issuer, clock).get()

    assert issuer.fetches == 5


def test_concurrent_callers_all_get_the_error_of_the_one_failed_fetch():
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, latency_s=0.02)
    issuer.fail_next(5)
    cache = token_cache(issuer, clock)

    outcomes = _get_concurrently(cache, 8, catch=TokenUnavailable)

    assert isinstance(outcomes[0], TokenUnavailable)
    assert all(outcome is outcomes[0] for outcome in outcomes)
    assert issuer.fetches == 5


def test_a_refused_fetch_is_not_retried():
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock)
    issuer.fail_next(1, TokenRefused("the token API refused the client credentials (HTTP 401)"))
    cache = token_cache(issuer, clock)

    with pytest.raises(TokenRefused):
        cache.get()

    assert issuer.fetches == 1
    assert clock.slept == []


def test_a_token_issued_already_expired_is_not_handed_out():
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock, lifetime_s=0)

    with pytest.raises(TokenUnavailable, match="already expired"):
        token_cache(issuer, clock).get()

    assert issuer.fetches == 5


def test_invalidating_drops_the_cached_token_only_if_it_is_still_that_token():
    clock = ManualClock()
    issuer = InMemoryTokenIssuer(clock)
    cache = token_cache(issuer, clock)
    first = cache.get()

    cache.invalidate(first)
    second = cache.get()
    cache.invalidate(first)

    assert second != first
    assert cache.get() == second
    assert issuer.fetches == 2


def _get_concurrently(cache, callers, catch=()):
    start = threading.Barrier(callers)
    outcomes = [None] * callers

    def call(index):
        start.wait()
        try:
            outcomes[index] = cache.get()
        except catch as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes
