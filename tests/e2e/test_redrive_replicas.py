"""`cruncan redrive` replicas on the real Postgres and Redis: however many run, whatever happens to the
lock or to a replica, each failed request is re-driven exactly once, and none is skipped."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import pytest
from psycopg2.extensions import make_dsn

from harness import redis as redis_harness
from harness.network import free_port
from harness.polling import eventually
from harness.postgres import server_connections
from harness.tcp_proxy import TcpProxy
from tests.e2e.jobs import (
    JOB_APPLICATION,
    Cruncan,
    assert_redriven_exactly_once,
    failed_count,
    held_gate,
    job_env,
    seed_failed,
    waiting_at_gate,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REQUESTS = 12
BATCH = 5
GATE = 0x7E_D1_FE
SUMMARY = re.compile(r"re-drove (\d+) request\(s\) in \d+ batch\(es\)|another run holds the re-drive lock")


@pytest.fixture
def lock_name(redis_url: str) -> Iterator[str]:
    prefix = redis_harness.fresh_key("jobs")
    name = f"{prefix}:redrive"
    yield name
    redis_harness.client(redis_url).delete(name)


def redrive_env(dsn: str, lock: str, redis_url: str, lock_name: str, **settings: object) -> dict[str, str]:
    return job_env(
        dsn,
        JOBS__LOCK__BACKEND=lock,
        JOBS__LOCK__REDIS_URL=redis_url,
        REDRIVE__BATCH_SIZE=BATCH,
        JOBS__LOCK__PREFIX=lock_name.removesuffix(":redrive"),
        **settings,
    )


def redriven_by(replica) -> int:
    match = replica.wait_for_line(SUMMARY, timeout_s=60)
    return int(match.group(1) or 0)


@pytest.mark.parametrize("lock", ["redis", "memory"])
def test_replicas_started_together_redrive_each_request_once(
    cruncan: Cruncan, clean_postgres: str, redis_url: str, lock_name: str, lock: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    env = redrive_env(clean_postgres, lock, redis_url, lock_name)

    replicas = [cruncan("redrive", env=env) for _ in range(4)]

    assert [replica.process.wait(90) for replica in replicas] == [0, 0, 0, 0], [r.output() for r in replicas]
    assert sum(redriven_by(replica) for replica in replicas) == REQUESTS
    assert_redriven_exactly_once(clean_postgres, ids)


def test_a_replica_killed_between_claim_and_commit_leaves_its_batch_to_the_next(
    cruncan: Cruncan, clean_postgres: str, redis_url: str, lock_name: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    env = redrive_env(clean_postgres, "redis", redis_url, lock_name)
    gate = held_gate(clean_postgres, GATE)
    killed = cruncan("redrive", env=env | {"CRUNCAN_REDRIVE__HOLD_AFTER_CLAIM_LOCK": str(GATE)})
    eventually(lambda: waiting_at_gate(clean_postgres), "the replica to claim a batch and wait at the gate")

    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(10)
    eventually(lambda: not server_connections(clean_postgres, JOB_APPLICATION), "its transaction to end")
    gate.close()
    assert failed_count(clean_postgres) == REQUESTS, "the killed replica's claim was rolled back"
    redis_harness.client(redis_url).delete(lock_name)  # its lock would lapse after the TTL; a test need not wait

    survivor = cruncan("redrive", env=env)
    assert survivor.process.wait(60) == 0, survivor.output()
    assert redriven_by(survivor) == REQUESTS
    assert_redriven_exactly_once(clean_postgres, ids)


def test_a_replica_paused_past_its_lock_and_its_session_changes_nothing_when_it_resumes(
    cruncan: Cruncan, clean_postgres: str, redis_url: str, lock_name: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    # The server ends a transaction left idle for a second, as a paused replica's is.
    dsn = make_dsn(clean_postgres, options="-c idle_in_transaction_session_timeout=1000")
    env = redrive_env(dsn, "redis", redis_url, lock_name, JOBS__LOCK__TTL_S=1)
    gate = held_gate(clean_postgres, GATE)
    paused = cruncan("redrive", env=env | {"CRUNCAN_REDRIVE__HOLD_AFTER_CLAIM_LOCK": str(GATE)})
    eventually(lambda: waiting_at_gate(clean_postgres), "the replica to claim a batch and wait at the gate")

    paused.process.send_signal(signal.SIGSTOP)
    client = redis_harness.client(redis_url)
    eventually(lambda: client.exists(lock_name) == 0, "the paused replica's lock to lapse", timeout_s=10)
    eventually(lambda: not server_connections(dsn, JOB_APPLICATION), "the server to end its idle transaction")
    other = cruncan("redrive", env=env)
    assert other.process.wait(60) == 0, other.output()
    assert redriven_by(other) == REQUESTS
    paused.process.send_signal(signal.SIGCONT)
    gate.close()

    assert paused.process.wait(60) != 0, paused.output()
    assert_redriven_exactly_once(clean_postgres, ids)


def test_a_lock_expired_mid_run_costs_no_duplicate(
    cruncan: Cruncan, clean_postgres: str, redis_url: str, lock_name: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    env = redrive_env(clean_postgres, "redis", redis_url, lock_name)
    gate = held_gate(clean_postgres, GATE)
    first = cruncan("redrive", env=env | {"CRUNCAN_REDRIVE__HOLD_AFTER_CLAIM_LOCK": str(GATE)})
    eventually(lambda: waiting_at_gate(clean_postgres), "the replica to claim a batch and wait at the gate")

    assert redis_harness.client(redis_url).pexpire(lock_name, 1)
    second = cruncan("redrive", env=env)
    assert second.process.wait(60) == 0, second.output()
    gate.close()
    assert first.process.wait(60) == 0, first.output()

    assert redriven_by(first) + redriven_by(second) == REQUESTS
    assert redriven_by(first) == BATCH, "the first replica commits only the batch it claimed"
    assert "lost the job lock mid-run" in first.output()
    assert_redriven_exactly_once(clean_postgres, ids)


def test_redis_gone_mid_run_costs_no_duplicate(
    cruncan: Cruncan, clean_postgres: str, redis_url: str, lock_name: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    with TcpProxy(host, int(port)) as proxy:
        env = redrive_env(clean_postgres, "redis", f"redis://127.0.0.1:{proxy.port}/0", lock_name)
        gate = held_gate(clean_postgres, GATE)
        first = cruncan("redrive", env=env | {"CRUNCAN_REDRIVE__HOLD_AFTER_CLAIM_LOCK": str(GATE)})
        eventually(lambda: waiting_at_gate(clean_postgres), "the replica to claim a batch and wait at the gate")
        proxy.cut()

        second = cruncan("redrive", env=env)
        assert second.process.wait(60) == 0, second.output()
        gate.close()
        assert first.process.wait(60) == 0, first.output()

    assert "the job lock is unreachable" in second.output()
    assert redriven_by(first) + redriven_by(second) == REQUESTS
    assert_redriven_exactly_once(clean_postgres, ids)


def test_replicas_with_no_redis_at_all_still_redrive_each_request_once(
    cruncan: Cruncan, clean_postgres: str, lock_name: str
) -> None:
    ids = seed_failed(clean_postgres, REQUESTS)
    env = redrive_env(clean_postgres, "redis", f"redis://127.0.0.1:{free_port()}/0", lock_name)

    replicas = [cruncan("redrive", env=env) for _ in range(3)]

    assert [replica.process.wait(90) for replica in replicas] == [0, 0, 0], [r.output() for r in replicas]
    assert sum(redriven_by(replica) for replica in replicas) == REQUESTS
    assert_redriven_exactly_once(clean_postgres, ids)
