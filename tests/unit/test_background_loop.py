import threading

from runtime.background import BackgroundLoop


def until_stopped(stop: threading.Event) -> None:
    stop.wait()


def test_a_loop_runs_until_stopped_and_then_reports_a_clean_stop():
    loop = BackgroundLoop("loop", until_stopped)
    loop.start()

    assert loop.running
    assert loop.stop(5.0)
    assert not loop.running
    assert loop.failed is None


def test_a_loop_that_raised_is_not_running_and_its_stop_is_not_clean():
    def fails(stop: threading.Event) -> None:
        raise RuntimeError("broken")

    loop = BackgroundLoop("loop", fails)
    loop.start()
    while loop.running:
        threading.Event().wait(0.01)

    assert not loop.stop(1.0)
    assert isinstance(loop.failed, RuntimeError)


def test_a_loop_that_ignores_the_stop_misses_its_deadline():
    release = threading.Event()
    loop = BackgroundLoop("stubborn", lambda stop: release.wait(10))
    loop.start()

    assert not loop.stop(0.05)
    release.set()
    assert loop.stop(5.0)


def test_a_loop_never_started_stops_at_once():
    assert BackgroundLoop("idle", until_stopped).stop(0.0)
