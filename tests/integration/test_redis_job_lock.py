"""`RedisJobLock` on the real Redis: one holder, release and renewal only by the holder, the TTL, and
an unreachable server reported as such instead of raised."""

from __future__ import annotations

import pytest

from adapters.redis.job_lock import RedisJobLock
from domain.model.lock import LockState
from harness import redis as redis_harness
from harness.network import free_port
from harness.polling import eventually
from harness.tcp_proxy import TcpProxy


@pytest.fixture
def name(redis_url: str) -> str:
    return redis_harness.fresh_key("lock")


def test_one_holder_at_a_time_and_only_it_releases(redis_url: str, name: str) -> None:
    first, second = RedisJobLock(redis_url, name, 30), RedisJobLock(redis_url, name, 30)

    assert first.acquire() is LockState.HELD
    assert second.acquire() is LockState.BUSY
    second.release()
    assert second.acquire() is LockState.BUSY, "a holder's lock survives another's release"
    first.release()
    assert second.acquire() is LockState.HELD
    second.release()


def test_the_key_holds_a_random_token_with_the_ttl(redis_url: str, name: str) -> None:
    lock = RedisJobLock(redis_url, name, 30)
    lock.acquire()
    client = redis_harness.client(redis_url)

    token = client.get(name)
    assert token is not None
    assert len(token) >= 16
    assert 25_000 < client.pttl(name) <= 30_000
    lock.release()
    assert client.exists(name) == 0


def test_an_expired_key_passes_the_lock_on_and_the_late_holder_cannot_renew_or_release(
    redis_url: str, name: str
) -> None:
    late, next_holder = RedisJobLock(redis_url, name, 30), RedisJobLock(redis_url, name, 30)
    late.acquire()
    client = redis_harness.client(redis_url)
    client.pexpire(name, 1)
    eventually(lambda: client.exists(name) == 0 or None, "the lock's key to expire", timeout_s=5)

    assert next_holder.acquire() is LockState.HELD
    assert late.renew() is LockState.BUSY
    late.release()
    assert next_holder.renew() is LockState.HELD
    next_holder.release()


def test_an_unreachable_redis_is_reported_not_raised() -> None:
    lock = RedisJobLock(f"redis://127.0.0.1:{free_port()}/0", "cruncan:test", 30, timeout_s=0.5)

    assert lock.acquire() is LockState.UNREACHABLE
    assert lock.renew() is LockState.BUSY, "a lock never taken is not held"
    lock.release()


def test_redis_lost_mid_run_is_reported_on_renewal_and_release_does_not_raise(redis_url: str, name: str) -> None:
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    with TcpProxy(host, int(port)) as proxy:
        lock = RedisJobLock(f"redis://127.0.0.1:{proxy.port}/0", name, 30, timeout_s=0.5)
        assert lock.acquire() is LockState.HELD
        proxy.cut()
        assert lock.renew() is LockState.UNREACHABLE
        lock.release()
    assert redis_harness.client(redis_url).exists(name) == 1, "the key lapses after its TTL"
    redis_harness.client(redis_url).delete(name)


def test_a_ttl_must_be_positive(redis_url: str) -> None:
    with pytest.raises(ValueError, match="positive TTL"):
        RedisJobLock(redis_url, "x", 0)
