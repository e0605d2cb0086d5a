"""The web UI in a real browser: Debian's headless Chromium, driven by Selenium.

A developer opens the list, filters it, opens the execution that waits for them, answers
its callback and watches it complete; the list refreshes itself when an execution starts;
a new execution starts from the form with a JSON input and is stopped. With
``AIODURABLE_UI_SCREENSHOTS=<dir>`` the test also saves the two pages the README shows
(``ui-executions.png`` and ``ui-execution.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from aiodurable.local.records import ExecutionStatus
from tests import system_tools

from .server import Served, serve_ui, with_history

#: What Chromium needs here: root, no GPU, a closed network (nothing to phone home to).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)
WAIT = 15.0  # seconds a page may take to show what the test waits for (it refreshes each 1 s)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    browser, driver_path = system_tools.chromium(), system_tools.chromedriver()
    profile = tempfile.mkdtemp(prefix="aiodurable-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def until(driver: WebDriver, what: Callable[[WebDriver], Any], message: str) -> Any:
    """Wait for ``what`` to be true; the live refresh may replace elements meanwhile."""
    wait = WebDriverWait(
        driver,
        WAIT,
        poll_frequency=0.05,
        ignored_exceptions=[StaleElementReferenceException, NoAlertPresentException],
    )
    return wait.until(what, message)


def read(driver: WebDriver, what: Callable[[WebDriver], Any]) -> Any:
    """``what(driver)``, read again if a refresh replaced the elements it was reading."""
    return until(driver, lambda d: (what(d),), "the page settles")[0]


def rows(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "table.executions tbody tr")


def row_texts(driver: WebDriver) -> list[str]:
    return [row.text for row in rows(driver)]


def heading(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "#live h1").text)


def screenshot(driver: WebDriver, name: str) -> None:
    """Save the whole page as ``name`` when screenshots were asked for."""
    where = os.environ.get("AIODURABLE_UI_SCREENSHOTS")
    if not where:
        return
    for _ in range(3):  # resize the window until its inside fits the page exactly
        content, inside = driver.execute_script(
            "return [Math.ceil(document.querySelector('main').getBoundingClientRect().bottom"
            " + window.scrollY), window.innerHeight]"
        )
        if content == inside:
            break
        outside = driver.get_window_size()["height"]
        driver.set_window_size(1400, min(outside - inside + max(content, 480), 2400))
    driver.execute_script("window.scrollTo(0, 0)")
    Path(where).mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(Path(where) / name))
    driver.set_window_size(1400, 900)


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Script errors and refused loads (a content security policy violation shows here)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [str(e["message"]) for e in entries if e["level"] == "SEVERE"]


def browse(served: Served, waiting_arn: str) -> None:
    """Everything the browser does; runs in a worker thread while the loop serves."""
    with chromium() as driver:
        # The list: every execution with its status, function, start and duration.
        driver.get(served.url + "/ui/")
        until(driver, lambda d: len(rows(d)) == 4, "the list shows the four executions")
        texts = row_texts(driver)
        assert texts[0].startswith("RUNNING order-1043 approval")
        assert "waiting for callback" in texts[0]
        assert texts[1].startswith("SUCCEEDED order-1042 approval")
        assert texts[2].startswith("FAILED order-1041 failing")
        assert "has no shipping address" in texts[2]
        assert texts[3].startswith("STOPPED order-1040 approval")
        screenshot(driver, "ui-executions.png")

        # Live refresh: an execution started elsewhere appears without a reload.
        marker = driver.find_element(By.CSS_SELECTOR, "main")
        anyio.from_thread.run_sync(served.start, "failing", "o-1044", "order-1044")
        until(driver, lambda d: len(rows(d)) == 5, "the new execution appears by itself")
        assert marker == driver.find_element(By.CSS_SELECTOR, "main"), "no page reload"

        # Filters: by status, then by function (each reloads the page with its query).
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("RUNNING")
        until(driver, lambda d: "status=RUNNING" in d.current_url, "the filter applies")
        until(driver, lambda d: len(rows(d)) == 1, "only the running execution is left")
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("")
        until(driver, lambda d: len(rows(d)) == 5, "every execution again")
        Select(driver.find_element(By.ID, "filter-function")).select_by_value("failing")
        until(driver, lambda d: "function=failing" in d.current_url, "the filter applies")
        until(driver, lambda d: len(rows(d)) == 2, "only the two failing executions")
        Select(driver.find_element(By.ID, "filter-function")).select_by_value("")
        until(driver, lambda d: len(rows(d)) == 5, "every execution again")

        # The execution page of the one that waits for us.
        read(driver, lambda d: d.find_element(By.LINK_TEXT, "order-1043").click())
        until(driver, lambda d: "order-1043" in heading(d), "the execution page opens")
        assert "RUNNING" in read(driver, heading)
        assert read(driver, lambda d: d.find_element(By.ID, "execution-arn").text) == waiting_arn
        names = read(
            driver, lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".row.op .name")]
        )
        assert names[:3] == ["reserve-items", "map-item-0", "reserve-book"]
        assert "charge" in names and "cool-off" in names
        charge = "//div[contains(@class,'op')][.//span[text()='charge']]"
        segments = read(
            driver,
            lambda d: [
                (s.get_attribute("class"), s.size["width"])
                for s in d.find_element(By.XPATH, charge).find_elements(By.CSS_SELECTOR, ".seg")
            ],
        )
        assert [kind for kind, _ in segments] == ["seg failed", "seg retry", "seg succeeded"]
        assert segments[1][1] > 100, "the 1 s retry delay is a visible segment"
        invocations = read(
            driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".row.invocations .seg"))
        )
        assert invocations == 3  # the first run, after the retry delay, after the wait

        # Nesting folds: the map's iterations hide with it, and come back.
        def shown_names(d: WebDriver) -> list[str]:
            return [
                e.text
                for e in d.find_elements(By.CSS_SELECTOR, ".row.op .name")
                if e.is_displayed()
            ]

        fold = (
            "//div[contains(@class,'op')][.//span[text()='reserve-items']]//button[@class='toggle']"
        )
        read(driver, lambda d: d.find_element(By.XPATH, fold).click())
        until(driver, lambda d: "map-item-0" not in shown_names(d), "the map folds")
        folded = read(driver, shown_names)
        assert "reserve-items" in folded and "reserve-book" not in folded
        read(driver, lambda d: d.find_element(By.XPATH, fold).click())
        until(driver, lambda d: "reserve-book" in shown_names(d), "the map unfolds")

        # An operation's details on click.
        read(driver, lambda d: d.find_element(By.XPATH, charge).click())
        shown = ".op-detail:not([hidden])"
        detail = until(
            driver, lambda d: d.find_element(By.CSS_SELECTOR, shown).text, "the step's details show"
        )
        assert detail.startswith("charge step")
        assert "charged o-1043" in detail
        assert "StepFailed" in detail and "StepSucceeded" in detail

        # Answer the callback.
        read(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#waiting-for-you .answer").click())

        def type_answer(d: WebDriver) -> None:
            result = d.find_element(By.CSS_SELECTOR, f"{shown} textarea.callback-result")
            result.clear()
            result.send_keys('"ada"')  # typing pauses the refresh until the form is sent

        read(driver, type_answer)
        screenshot(driver, "ui-execution.png")
        driver.find_element(By.CSS_SELECTOR, f"{shown} button.succeed").click()
        until(driver, lambda d: "SUCCEEDED" in heading(d), "the execution completes on screen")
        answer = read(driver, lambda d: d.find_element(By.XPATH, "//section[h2='Result']/pre").text)
        assert json.loads(answer)["approved_by"] == "ada"
        assert not driver.find_elements(By.ID, "waiting-for-you")
        assert not driver.find_elements(By.ID, "stop-button")

        # Start a new execution from the form, with a JSON input, and stop it.
        driver.get(served.url + "/ui/")
        driver.find_element(By.CSS_SELECTOR, "details.start summary").click()
        Select(driver.find_element(By.ID, "start-function")).select_by_value("approval")
        driver.find_element(By.ID, "start-name").send_keys("order-2001")
        given = driver.find_element(By.ID, "start-input")
        given.clear()
        given.send_keys('{"order_id": "o-2001", "items": ["kettle"]}')
        driver.find_element(By.ID, "start-button").click()
        until(driver, lambda d: "order-2001" in heading(d), "the new execution opens")
        until(driver, lambda d: d.find_elements(By.ID, "waiting-for-you"), "it waits for us")
        given_text = read(
            driver, lambda d: d.find_element(By.XPATH, "//section[h2='Input']/pre").text
        )
        assert json.loads(given_text) == {"order_id": "o-2001", "items": ["kettle"]}
        read(driver, lambda d: d.find_element(By.ID, "stop-button").click())
        confirm = until(driver, lambda d: d.switch_to.alert, "the UI asks before stopping")
        assert confirm.text == "Stop this execution?"
        confirm.accept()
        until(driver, lambda d: "STOPPED" in heading(d), "the execution stops")
        error = read(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".error").text)
        assert "Stopped from the aiodurable UI" in error

        assert console_errors(driver) == []


async def test_a_developer_answers_a_callback_in_the_browser() -> None:
    async with serve_ui() as served:
        waiting = await with_history(served)
        await anyio.to_thread.run_sync(browse, served, waiting.arn)
        info = served.backend.describe(waiting.arn)
        assert info.status is ExecutionStatus.SUCCEEDED
        assert json.loads(info.result or "null")["approved_by"] == "ada"
        assert {i.name for i in served.backend.executions("failing")} == {
            "order-1041",
            "order-1044",
        }
        stopped = served.backend.executions("approval", ["STOPPED"])
        assert {i.name for i in stopped} == {"order-1040", "order-2001"}
