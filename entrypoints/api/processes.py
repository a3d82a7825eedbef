"""`http.processes` above 1: this process binds the listening socket once and supervises that many
`cruncan api` processes serving it, each with its own pool, producer, relay and telemetry.

Nothing is forked: each process is a fresh interpreter that inherits the socket's descriptor, so no
thread, connection or telemetry exporter of this one is copied into it. It receives its settings on
stdin and reports on a pipe once it serves. One that exits unasked stops all the others and this
process exits non-zero, for the orchestrator to restart the whole (see docs/architecture.md).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from dependency_injector import providers

from domain.model.snowflake import SequenceShare
from entrypoints.lifecycle import shutdown_requested

log = logging.getLogger(__name__)

FLAG = "--http-process"
"""The hidden `cruncan api` option, `K/N`, that makes a process the K-th of N served by a supervisor."""
BACKLOG = 1024
READY = b"ready\n"
STOP_MARGIN_S = 10.0
"""How much longer than a process's own shutdown deadlines the supervisor waits before killing it."""


@dataclass(frozen=True)
class Handoff:
    """What a supervised process is given: its settings, the listening socket's and the readiness
    pipe's descriptors, who supervises it, and its share of the host's IDs."""

    settings: dict[str, Any]
    listener_fd: int
    ready_fd: int
    supervisor_pid: int
    share: SequenceShare

    @classmethod
    def receive(cls, stream: TextIO, slot: str) -> Handoff:
        """The handoff written on `stream` by `supervise`; `slot` is the `K/N` of `FLAG`."""
        number, _, count = slot.partition("/")
        given = json.load(stream)
        return cls(
            settings=given["settings"],
            listener_fd=int(given["listener_fd"]),
            ready_fd=int(given["ready_fd"]),
            supervisor_pid=int(given["supervisor_pid"]),
            share=SequenceShare(index=int(number) - 1, of=int(count)),
        )

    @property
    def slot(self) -> str:
        return f"{self.share.index + 1}/{self.share.of}"

    def configuration(self) -> providers.Configuration:
        config = providers.Configuration(strict=True)
        config.from_dict(self.settings)
        return config

    def listener(self) -> socket.socket:
        return socket.socket(fileno=self.listener_fd)

    def report_ready(self) -> None:
        os.write(self.ready_fd, READY)
        os.close(self.ready_fd)

    def supervisor_alive(self) -> bool:
        """Whether the supervisor still runs: once it is gone this process is another's child."""
        if os.getppid() == self.supervisor_pid:
            return True
        log.error("the supervising cruncan api (pid %d) is gone; http process %s stops", self.supervisor_pid, self.slot)
        return False


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket listening on `host:port` (port 0: any free one), as waitress would bind it."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = found[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    return listener


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class Child:
    """One supervised process, and the pipe it reports readiness on until it has."""

    slot: str
    process: subprocess.Popen[bytes]
    ready_fd: int | None
    ready: bool = False

    def stopped_cleanly(self) -> bool:
        """Whether it exited 0, or died of the SIGTERM it was sent before it could handle one (and so
        before it served anything)."""
        return self.process.returncode in (0, -signal.SIGTERM)

    def read_readiness(self) -> None:
        assert self.ready_fd is not None
        self.ready = os.read(self.ready_fd, len(READY)) == READY
        os.close(self.ready_fd)
        self.ready_fd = None


@dataclass
class Supervisor:
    """Starts `count` processes on `listener`, announces once all serve, and stops them all on SIGTERM
    or SIGINT, or as soon as one exits unasked."""

    settings: dict[str, Any]
    listener: socket.socket
    count: int
    log_level: str
    stop_after_s: float
    children: list[Child] = field(default_factory=list)

    def run(self, announce: Callable[[str], None]) -> int:
        """Returns 0 when asked to stop and every process exited 0 in time; otherwise the exit code of
        the process that failed (1 if it has none)."""
        url = url_of(self.listener)
        with shutdown_requested() as stop:
            try:
                for index in range(self.count):
                    self.children.append(self._start(index))
                # The processes hold the socket now; once each closes its copy, connections are refused.
                self.listener.close()
                exited = self._watch(stop, lambda: announce(f"cruncan api listening on {url} ({self.count} processes)"))
            finally:
                self.listener.close()
                self._stop_all()
        failed = [child for child in self.children if child is not exited and not child.stopped_cleanly()]
        for child in failed:
            log.error("http process %s (pid %d) exited with %s", child.slot, child.process.pid, _status(child))
        if exited is None and not failed:
            return 0
        return next((c.process.returncode for c in [exited, *failed] if c and c.process.returncode > 0), 1)

    def _start(self, index: int) -> Child:
        slot = f"{index + 1}/{self.count}"
        ready_read, ready_write = os.pipe()
        try:
            # This interpreter, fixed arguments and a level argparse chose from a list: no untrusted input.
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "entrypoints.cli", "api", "--log-level", self.log_level, FLAG, slot],
                stdin=subprocess.PIPE,
                pass_fds=(self.listener.fileno(), ready_write),
                # Its own session: a terminal's Ctrl-C or hangup reaches this process only, which stops them all.
                start_new_session=True,
            )
        finally:
            os.close(ready_write)
        handoff = {
            "settings": self.settings,
            "listener_fd": self.listener.fileno(),
            "ready_fd": ready_write,
            "supervisor_pid": os.getpid(),
        }
        assert process.stdin is not None
        try:
            with process.stdin:
                process.stdin.write(json.dumps(handoff).encode())
        except BrokenPipeError:
            pass  # it exited already: `_watch` reports how
        log.info("started http process %s (pid %d)", slot, process.pid)
        return Child(slot, process, ready_read)

    def _watch(self, stop: threading.Event, on_all_ready: Callable[[], None]) -> Child | None:
        """Until `stop` is set: calls `on_all_ready` once every process reported ready; returns the
        first process that exits unasked, or None once stopped."""
        announced = False
        while not stop.is_set():
            pipes = {child.ready_fd: child for child in self.children if child.ready_fd is not None}
            if pipes:
                for fd in select.select(list(pipes), [], [], 0.2)[0]:
                    pipes[fd].read_readiness()
            else:
                stop.wait(0.2)
            if not announced and all(child.ready for child in self.children):
                on_all_ready()
                announced = True
            exited = next((child for child in self.children if child.process.poll() is not None), None)
            if exited is not None and not stop.is_set():
                log.error(
                    "http process %s (pid %d) exited unasked with %s; stopping the others",
                    exited.slot,
                    exited.process.pid,
                    _status(exited),
                )
                return exited
        return None

    def _stop_all(self) -> None:
        """SIGTERMs every process still running, waits for each to drain, and kills what outlives the wait."""
        for child in self.children:
            if child.process.poll() is None:
                log.info("stopping http process %s (pid %d)", child.slot, child.process.pid)
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_after_s
        for child in self.children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "http process %s (pid %d) outlived %.0f s; killing it",
                    child.slot,
                    child.process.pid,
                    self.stop_after_s,
                )
                child.process.kill()
                child.process.wait()
            if child.ready_fd is not None:
                os.close(child.ready_fd)
                child.ready_fd = None


def _status(child: Child) -> str:
    code = child.process.returncode
    if code >= 0:
        return f"code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


def supervise(settings: providers.Configuration, log_level: str, announce: Callable[[str], None]) -> int:
    """Serves `http.host:http.port` with `http.processes` processes until SIGTERM or SIGINT."""
    listener = bind(settings.http.host(), settings.http.port())
    stop_after_s = (
        settings.http.shutdown_timeout_s()
        + settings.relay.shutdown_timeout_s()
        + settings.messaging.kafka.close_timeout_s()
        + STOP_MARGIN_S
    )
    supervisor = Supervisor(settings(), listener, settings.http.processes(), log_level, stop_after_s)
    return supervisor.run(announce)
