import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.component.forwarding_world import Pipeline

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")
WORKER_STARTED = re.compile("cruncan worker forwarding")


@dataclass
class RunningCommand:
    """A `cruncan` subcommand in its own process, its output collected as it comes."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, pattern: re.Pattern[str], timeout_s: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := pattern.search(line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail(f"no line matching {pattern.pattern!r} from {self.process.args}:\n{self.output()}")

    def url(self) -> str:
        return self.wait_for_line(LISTENING).group(1)

    def terminate(self, timeout_s: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)


@pytest.fixture
def cruncan() -> Iterator[object]:
    """Starts `python -m entrypoints.cli ARGS...`; every process is killed at the end of the test."""
    started: list[RunningCommand] = []

    def start(*args: str, env: dict[str, str] | None = None) -> RunningCommand:
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = RunningCommand(process)
        reader = threading.Thread(target=lambda: running.lines.extend(iter(process.stdout.readline, "")), daemon=True)
        reader.start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


@pytest.fixture
def pipeline(clean_postgres, kafka_broker, wiremock, fresh_topic):
    """Postgres, the broker and WireMock set up for a `cruncan worker` process (see forwarding_world)."""
    pipeline = Pipeline(clean_postgres, kafka_broker, wiremock, fresh_topic)
    yield pipeline
    pipeline.close()
