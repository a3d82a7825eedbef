"""Headless Chromium for the browser tests: Debian's `chromium`, driven through Debian's
`chromedriver` by Selenium (never Selenium Manager, which would try to download a browser)."""

from __future__ import annotations

import base64
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
EXPECTED_ANSWER = re.compile(
    r"/(one|demo/faults) - Failed to load resource: the server responded with a status of 4\d\d"
)


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
        if entry["level"] == "SEVERE"
        and not (entry["source"] == "network" and EXPECTED_ANSWER.search(entry["message"]))
    ]


def wait(driver: WebDriver, timeout_s: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout_s, poll_frequency=0.05)


def screenshot(driver: WebDriver, folder: Path, name: str) -> Path:
    """The whole page, beyond the window too, saved as `folder/name.png`."""
    path = folder / f"{name}.png"
    content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    # Taller than the window, the page has no scroll bar and lays out across the window's full width.
    width = max(content["width"], driver.execute_script("return window.innerWidth"))
    clip = {"x": 0, "y": 0, "width": width, "height": content["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"screenshot: {path}")
    return path


def emulate_screen(driver: WebDriver, width: int, height: int) -> None:
    """Lays pages out as on a phone's screen of `width` x `height` CSS pixels (a window cannot be that narrow)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def overflow_px(driver: WebDriver) -> int:
    """How far the page reaches past the right edge of the window (0 or less: it fits)."""
    return int(
        driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )
