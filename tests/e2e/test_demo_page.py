"""The demo page in a real headless Chromium against a real `cruncan demo` process. Each test saves
a screenshot under its own tmp_path and fails on any error in the browser console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.browser import chromium, console_errors, emulate_screen, overflow_px, screenshot, wait

pytestmark = pytest.mark.browser

ACCEPTED = re.compile(r"Accepted as request (\d+)")
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def demo_url(cruncan) -> str:
    return cruncan("demo", "--port", "0", "--set", "demo.stand_in_port=0").url()


@pytest.fixture
def browser(demo_url: str) -> Iterator[WebDriver]:
    with chromium() as driver:
        driver.get(f"{demo_url}/")
        wait(driver).until(lambda d: d.find_element(By.ID, "user_id").get_attribute("value") == "user-1")
        yield driver


def sent_request_id(driver: WebDriver) -> str:
    result = wait(driver).until(lambda d: ACCEPTED.search(d.find_element(By.ID, "send-result").text))
    return result.group(1)


def row_in(driver: WebDriver, request_id: str, status: str, timeout_s: float = 20) -> dict[str, str]:
    """The text of each cell of the request's row, by column, once the row shows `status` and the step
    that ended in it: the worker stores the status a moment before its span ends, and a refresh in
    between shows the status without that step. Read in one script, so that the table's next refresh
    cannot replace the row half-way through."""
    script = """
        const row = document.querySelector(`tr[data-request-id="${arguments[0]}"][data-status="${arguments[1]}"]`);
        return row && Object.fromEntries(Array.from(row.cells, (td) => [td.dataset.label, td.innerText]));
    """
    last_step = re.compile(rf"(?m)^{status} ")

    def shown(d: WebDriver) -> dict[str, str] | None:
        row: dict[str, str] | None = d.execute_script(script, request_id, status)
        return row if row and last_step.search(row.get("Steps", "")) else None

    return wait(driver, timeout_s).until(shown, f"no row for request {request_id} in status {status} with its step")


def set_value(driver: WebDriver, element_id: str, value: str) -> None:
    element = driver.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(value)


def apply_faults(driver: WebDriver, *, share_percent: str = "0", delay_ms: str = "0", reject: bool = False) -> None:
    set_value(driver, "unavailable_share", share_percent)
    set_value(driver, "delay_ms", delay_ms)
    if driver.find_element(By.ID, "reject").is_selected() != reject:
        driver.find_element(By.ID, "reject").click()
    driver.find_element(By.ID, "apply-faults").click()


def test_a_request_sent_through_the_form_is_seen_reaching_forwarded_with_its_steps_and_trace(
    browser: WebDriver, tmp_path: Path
) -> None:
    browser.find_element(By.ID, "send").click()
    request_id = sent_request_id(browser)

    row = row_in(browser, request_id, "forwarded")

    assert TRACE_ID.match(row["Trace ID"]), row["Trace ID"]
    steps = row["Steps"]
    assert re.search(r"accepted [\d.]+ ms\s+published [\d.]+ ms\s+forwarded [\d.]+ ms", steps), steps
    assert re.search(r"POST /three 200", row["Calls"]), row["Calls"]
    assert overflow_px(browser) <= 0
    screenshot(browser, tmp_path, "forwarded")
    assert console_errors(browser) == []


def test_with_authentication_on_the_form_sends_the_page_a_token_and_the_request_is_forwarded(
    cruncan, tmp_path: Path
) -> None:
    url = cruncan("demo", "--auth", "--port", "0", "--set", "demo.stand_in_port=0").url()
    with chromium() as driver:
        driver.get(f"{url}/")
        wait(driver).until(lambda d: d.find_element(By.ID, "user_id").get_attribute("value") == "user-1")

        driver.find_element(By.ID, "send").click()
        request_id = sent_request_id(driver)

        row_in(driver, request_id, "forwarded")
        screenshot(driver, tmp_path, "forwarded-with-auth")
        assert console_errors(driver) == []


def test_an_invalid_field_shows_the_api_error_next_to_that_field(browser: WebDriver, tmp_path: Path) -> None:
    set_value(browser, "user_id", "   ")
    browser.find_element(By.ID, "send").click()

    error = wait(browser).until(lambda d: d.find_element(By.ID, "error-user_id").text)
    assert "user_id" in error
    assert "must not be empty" in error
    field = browser.find_element(By.ID, "user_id")
    assert field.get_attribute("aria-invalid") == "true"
    assert browser.switch_to.active_element == field, "the field in error has the focus"
    assert "400" in browser.find_element(By.ID, "send-result").text
    screenshot(browser, tmp_path, "field-error")

    set_value(browser, "user_id", "user-1")
    browser.find_element(By.ID, "data-0-key").clear()
    browser.find_element(By.ID, "send").click()
    item_error = wait(browser).until(lambda d: d.find_element(By.ID, "error-data-0-key").text)
    assert "data[0].key" in item_error, "an error inside an item is shown next to that item's input"
    assert browser.find_element(By.ID, "error-user_id").text == "", "the earlier error is gone"
    assert console_errors(browser) == []


def test_a_body_edited_as_json_shows_the_field_the_api_names(browser: WebDriver, tmp_path: Path) -> None:
    browser.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="json"]').click()
    body = browser.find_element(By.ID, "json-body")
    assert '"user_id": "user-1"' in body.get_attribute("value"), "the JSON editor starts from the fields"
    body.clear()
    body.send_keys('{"user_id": "u", "prompt": 7}')
    browser.find_element(By.ID, "send").click()

    error = wait(browser).until(lambda d: d.find_element(By.ID, "error-json").text)
    assert error.startswith("prompt:"), error
    screenshot(browser, tmp_path, "json-error")
    assert console_errors(browser) == []


def test_a_third_party_rejecting_with_400_shows_a_failed_row_with_its_reason(
    browser: WebDriver, tmp_path: Path
) -> None:
    apply_faults(browser, reject=True)
    wait(browser).until(lambda d: "rejected with 400" in d.find_element(By.ID, "faults-result").text)

    browser.find_element(By.ID, "send").click()
    row = row_in(browser, sent_request_id(browser), "failed")

    status = row["Status"]
    assert "the third party answered 400" in status, status
    assert re.search(r"POST /three 400", row["Calls"]), row["Calls"]
    screenshot(browser, tmp_path, "failed")
    assert console_errors(browser) == []


def test_a_third_party_always_answering_503_is_retried_with_backoff_then_dead_lettered(
    browser: WebDriver, tmp_path: Path
) -> None:
    browser.find_element(By.ID, "send").click()
    row_in(browser, sent_request_id(browser), "forwarded")
    apply_faults(browser, share_percent="100")
    wait(browser).until(lambda d: "100% answered 503" in d.find_element(By.ID, "faults-result").text)

    browser.find_element(By.ID, "send").click()
    row = row_in(browser, sent_request_id(browser), "failed", timeout_s=40)

    assert "gave up after 5 attempts" in row["Status"], row["Status"]
    sends = re.findall(r"\+([\d.]+) ms POST /three 503", row["Calls"])
    assert len(sends) == 5, row["Calls"]
    assert [float(at) for at in sends] == sorted(float(at) for at in sends)
    screenshot(browser, tmp_path, "retries-exhausted")
    assert console_errors(browser) == []


def test_out_of_range_fault_settings_show_the_error_next_to_the_control(browser: WebDriver) -> None:
    apply_faults(browser, delay_ms="99999")

    error = wait(browser).until(lambda d: d.find_element(By.ID, "error-delay_ms").text)
    assert "from 0 to 5000" in error
    assert browser.find_element(By.ID, "delay_ms").get_attribute("aria-invalid") == "true"
    assert console_errors(browser) == []


def test_the_form_can_be_sent_with_the_keyboard_alone(browser: WebDriver, tmp_path: Path) -> None:
    send = browser.find_element(By.ID, "send")
    browser.find_element(By.TAG_NAME, "body").click()
    for _ in range(40):
        if browser.switch_to.active_element == send:
            break
        ActionChains(browser).send_keys(Keys.TAB).perform()
    else:
        pytest.fail("the send button is not reachable with Tab")
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "the focused button shows a focus ring"
    screenshot(browser, tmp_path, "keyboard-focus")

    ActionChains(browser).send_keys(Keys.ENTER).perform()

    row_in(browser, sent_request_id(browser), "forwarded")
    assert console_errors(browser) == []


def test_the_page_fits_a_narrow_screen(demo_url: str, tmp_path: Path) -> None:
    with chromium() as driver:
        emulate_screen(driver, 360, 800)
        driver.get(f"{demo_url}/")
        driver.find_element(By.ID, "send").click()
        row_in(driver, sent_request_id(driver), "forwarded")

        assert driver.execute_script("return window.innerWidth") == 360
        overflow = overflow_px(driver)
        assert overflow <= 0, f"the page is {overflow} px wider than the screen"
        screenshot(driver, tmp_path, "narrow")
        assert console_errors(driver) == []


def test_the_docs_page_renders_the_api_operations(demo_url: str, tmp_path: Path) -> None:
    with chromium() as driver:
        driver.get(f"{demo_url}/docs")
        wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 2)

        operations = {element.text for element in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/one", "/one/{request_id}"} <= operations, operations
        screenshot(driver, tmp_path, "docs")
        assert console_errors(driver) == []


def test_the_console_check_catches_a_script_error(browser: WebDriver) -> None:
    browser.execute_script("setTimeout(function () { throw new Error('boom from the test'); }, 0)")
    errors = wait(browser, 5).until(console_errors)
    assert any("boom from the test" in error for error in errors)
