"""The core stays free of threads, sleeps and sockets, and small: checked on the syntax tree."""

import pytest

from tests.architecture.core_rules import (
    MAX_DOMAIN_FILE_LINES,
    MAX_FUNCTION_LINES,
    ROOT,
    concurrency_violations,
    long_functions,
    python_files,
)


@pytest.mark.parametrize("path", list(python_files("domain", "ports")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_starts_no_thread_sleeps_nor_opens_sockets(path):
    assert concurrency_violations(path.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import queue",
        "import socket",
        "import asyncio",
        "import concurrent.futures",
        "from concurrent.futures import ThreadPoolExecutor",
        "import time\ntime.sleep(1)",
        "from time import sleep",
        "from threading import Thread",
        "from threading import Lock, Event",
        "import threading\nthreading.Thread(target=print).start()",
        "import threading\ndone = threading.Event()",
        "import threading\nchanged = threading.Condition()",
        "import _thread",
        "import multiprocessing.pool",
    ],
)
def test_a_thread_a_sleep_or_a_socket_in_the_core_is_caught(snippet):
    assert concurrency_violations(snippet) != []


def test_a_lock_for_mutual_exclusion_is_allowed():
    assert concurrency_violations("import threading\nlock = threading.Lock()\nfrom threading import RLock") == []


@pytest.mark.parametrize("path", list(python_files("domain")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_of_the_domain_is_over_the_limit(path):
    assert len(path.read_text().splitlines()) <= MAX_DOMAIN_FILE_LINES


@pytest.mark.parametrize("path", list(python_files("domain", "runtime")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_of_the_domain_or_the_runtime_reaches_40_lines(path):
    assert long_functions(path.read_text()) == []


def test_a_function_of_40_lines_is_caught_and_one_of_39_is_not():
    def function(lines):
        return "def f():\n" + "    x = 1\n" * (lines - 1)

    assert long_functions(function(MAX_FUNCTION_LINES)) == []
    assert long_functions(function(MAX_FUNCTION_LINES + 1)) == ["f (line 1): 40 lines"]
    assert long_functions("class C:\n    async def g(self):\n" + "        pass\n" * 40) == ["g (line 2): 41 lines"]
