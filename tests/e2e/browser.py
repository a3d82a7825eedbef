"""Headless Chromium for the browser tests: Debian's `chromium`, driven through Debian's
`chromedriver` by Selenium (never Selenium Manager, which would try to download a browser)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
# Some tests want the API to refuse a body; Chromium logs each such answer to a fetch as an error.
EXPECTED_ANSWER = re.compile(r"/(one|demo/faults) - Failed to load resource: the server responded with a status of 4\d\d")


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"the browser tests need {' and '.join(missing)}: run `{INSTALL}` as root (make test does)")


@contextmanager
def chromium(width: int = 1280, height: int = 1000) -> Iterator[WebDriver]:
    """A headless Chromium that keeps its console messages for `console_errors`."""
    require_chromium()
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: WebDriver) -> list[str]:
    """The console's errors since the last call: script errors, and resources that failed to load
    (a 4xx answer to the page's POST /one or PUT /demo/faults is the API speaking, not an error)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not (entry["source"] == "network" and EXPECTED_ANSWER.search(entry["message"]))
    ]


def wait(driver: WebDriver, timeout_s: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout_s, poll_frequency=0.05)


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """The whole page (the window is made as tall as the page for the shot) saved as `folder/name.png`."""
    path = folder / f"{name}.png"
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], max(size["height"], height + 100))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    print(f"screenshot: {path}")
    return path
