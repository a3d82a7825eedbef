"""A database that cannot be reached says why, in the log: a refused password and a closed port read
differently. The shared server trusts every local connection, so a server of its own asks for passwords."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest
import urllib3

from adapters.postgres.database import close_database, connect_database
from adapters.postgres.unit_of_work import PeeweeUnitOfWork
from domain.model.errors import StoreUnavailable
from tests.e2e.conftest import RunningCommand

pytestmark = pytest.mark.postgres

ROLE, PASSWORD = "cruncan_app", "the-right-password"
BODY = {"user_id": "user-1", "prompt": "hello"}


def _as_postgres(*command: str) -> list[str]:
    """`command` as the `postgres` account when run as root (Postgres refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[int]:
    """The port of a Postgres server of this module's own that authenticates with scram-sha-256, with
    a role `ROLE` whose password is `PASSWORD`; stopped and deleted afterwards."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1]:
        pytest.fail("initdb is missing: install the Postgres server package (postgresql)", pytrace=False)
    bin_dir = Path(found[-1]).parent
    home = Path(tempfile.mkdtemp(prefix="cruncan-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(home, account.pw_uid, account.pw_gid)
    (home / "pw").write_text("admin-password\n")
    os.chmod(home / "pw", 0o644)
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = home / "data"
    run = lambda *command: subprocess.run(_as_postgres(*command), check=True, capture_output=True, timeout=120)  # noqa: E731
    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            f"--pwfile={home / 'pw'}",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={home} -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-o", options, "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(home, ignore_errors=True)
        pytest.fail(f"could not start a Postgres server of its own: {exc.stderr.decode()}", pytrace=False)
    try:
        admin = psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", password="admin-password", dbname="postgres"
        )
        admin.autocommit = True
        with closing(admin):
            admin.cursor().execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (PASSWORD,))
        yield port
    finally:
        subprocess.run(
            _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(home, ignore_errors=True)


def role_dsn(port: int, password: str) -> str:
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/postgres"


def first_failure(dsn: str) -> StoreUnavailable:
    database = connect_database(dsn, pool_size=1, connect_timeout_s=2, stale_timeout_s=300, statement_timeout_ms=1000)
    try:
        with PeeweeUnitOfWork(database) as uow:
            uow.requests.get("0" * 20)
    except StoreUnavailable as exc:
        return exc
    finally:
        close_database(database)
    pytest.fail(f"{dsn} answered")


def test_the_right_password_is_let_in(password_postgres: int) -> None:
    with closing(psycopg2.connect(role_dsn(password_postgres, PASSWORD))) as connection:
        connection.cursor().execute("SELECT 1")


def test_a_refused_password_and_a_closed_port_are_told_apart(password_postgres: int, unreachable_dsn: str) -> None:
    refused = first_failure(role_dsn(password_postgres, "a-wrong-password"))
    closed = first_failure(unreachable_dsn)

    assert refused.summary == closed.summary == "postgres connection failed"
    assert f'password authentication failed for user "{ROLE}"' in str(refused)
    assert "Connection refused" in str(closed)
    assert "a-wrong-password" not in str(refused)


@pytest.mark.parametrize("case", ["refused password", "closed port"])
def test_the_api_logs_why_the_store_is_unavailable_and_tells_clients_only_that_it_is(
    cruncan: Callable[..., RunningCommand], password_postgres: int, unreachable_dsn: str, case: str
) -> None:
    dsn, cause = {
        "refused password": (role_dsn(password_postgres, "a-wrong-password"), "password authentication failed"),
        "closed port": (unreachable_dsn, "Connection refused"),
    }[case]
    api = cruncan(
        "api",
        "--port",
        "0",
        "--set",
        "relay.embedded=false",
        env={"CRUNCAN_STORAGE__BACKEND": "postgres", "CRUNCAN_STORAGE__POSTGRES__DSN": dsn},
    )

    http = urllib3.PoolManager(retries=False, timeout=10)
    answer = http.request("POST", f"{api.url()}/one", json=BODY)
    readiness = http.request("GET", f"{api.url()}/readyz")

    assert (answer.status, answer.json()) == (503, {"error": "unavailable", "detail": "postgres connection failed"})
    assert (readiness.status, readiness.json()) == (
        503,
        {"error": "not_ready", "detail": "unavailable: postgres", "checks": {"postgres": "unavailable"}},
    )
    assert api.terminate() == 0
    [logged] = [line for line in api.output().splitlines() if "answering 503" in line]
    assert cause in logged
    [not_ready] = [line for line in api.output().splitlines() if "not ready" in line]
    assert cause in not_ready
    assert "a-wrong-password" not in api.output()
