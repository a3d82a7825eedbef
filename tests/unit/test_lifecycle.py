import os
import signal
import threading

from entrypoints.lifecycle import run_until_signalled


class Recorded:
    def __init__(
        self, name: str, journal: list[str], finishes: bool = True, dies: threading.Event | None = None
    ) -> None:
        self.name = name
        self._journal = journal
        self._finishes = finishes
        self._dies = dies or threading.Event()

    @property
    def running(self) -> bool:
        return not self._dies.is_set()

    def start(self) -> None:
        self._journal.append(f"start {self.name}")

    def stop(self, timeout_s: float) -> bool:
        self._journal.append(f"stop {self.name} within {timeout_s}")
        return self._finishes


def test_services_stop_in_reverse_order_on_sigterm_each_with_its_deadline():
    journal: list[str] = []
    services = [(Recorded("relay", journal), 10.0), (Recorded("http", journal), 5.0)]

    clean = run_until_signalled(services, on_started=lambda: os.kill(os.getpid(), signal.SIGTERM))

    assert clean
    assert journal == ["start relay", "start http", "stop http within 5.0", "stop relay within 10.0"]


def test_a_service_that_misses_its_deadline_makes_the_run_unclean():
    journal: list[str] = []
    services = [(Recorded("relay", journal, finishes=False), 1.0)]

    assert not run_until_signalled(services, on_started=lambda: os.kill(os.getpid(), signal.SIGINT))


def test_a_background_loop_that_dies_shuts_everything_down():
    journal: list[str] = []
    died = threading.Event()
    died.set()

    clean = run_until_signalled(
        [(Recorded("worker", journal), 1.0)], lambda: None, still_running=lambda: not died.is_set()
    )

    assert not clean
    assert journal == ["start worker", "stop worker within 1.0"]


def test_a_service_whose_thread_dies_shuts_the_others_down_in_order(caplog):
    journal: list[str] = []
    dies = threading.Event()
    services = [(Recorded("relay", journal), 1.0), (Recorded("http server", journal, dies=dies), 2.0)]

    clean = run_until_signalled(services, on_started=lambda: threading.Timer(0.3, dies.set).start())

    assert not clean
    assert journal == ["start relay", "start http server", "stop http server within 2.0", "stop relay within 1.0"]
    assert "http server stopped on its own" in caplog.text


def test_the_previous_signal_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)

    run_until_signalled([], on_started=lambda: os.kill(os.getpid(), signal.SIGTERM))

    assert signal.getsignal(signal.SIGTERM) is before
