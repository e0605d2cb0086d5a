"""Pause, resume, stop and delete from the execution page, in headless Chromium.

A developer pauses an execution that waits for its approval, answers the approval while
it is paused (nothing runs it), resumes it, then deletes a finished execution.
"""

from __future__ import annotations

import anyio.to_thread
import pytest
from selenium.webdriver.common.by import By

from aiodurable.local import EventType, ResourceNotFoundError
from aiodurable.local.records import ExecutionStatus

from .server import Served, serve_ui
from .test_browser import chromium, console_errors, heading, read, rows, until


def _invocations(served: Served, arn: str) -> int:
    return sum(e.event_type is EventType.INVOCATION_COMPLETED for e in served.backend.history(arn))


def browse(served: Served, arn: str, finished_arn: str) -> None:
    with chromium() as driver:
        driver.get(served.url + "/ui/execution?arn=" + arn)
        until(driver, lambda d: "RUNNING" in heading(d), "the execution page opens")
        assert not driver.find_elements(By.ID, "resume-button")
        assert not driver.find_elements(By.ID, "delete-button")

        # RUNNING -> PAUSED (no invocation runs: paused at once)
        read(driver, lambda d: d.find_element(By.ID, "pause-button").click())
        until(driver, lambda d: "PAUSED" in heading(d), "the execution pauses")
        assert not driver.find_elements(By.ID, "pause-button")
        facts = read(driver, lambda d: d.find_element(By.CSS_SELECTOR, "table.summary").text)
        assert "Paused since" in facts and "Paused from the UI" in facts
        assert driver.find_elements(By.ID, "stop-button"), "a paused execution can be stopped"

        # The approval is answered while paused: it completes, nothing invokes the workflow.
        invoked = _invocations(served, arn)
        read(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#waiting-for-you .answer").click())
        shown = ".op-detail:not([hidden])"
        read(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{shown} button.succeed").click())
        until(driver, lambda d: not d.find_elements(By.ID, "waiting-for-you"), "it is answered")
        assert "PAUSED" in read(driver, heading)
        assert _invocations(served, arn) == invoked

        # PAUSED -> RUNNING -> SUCCEEDED
        read(driver, lambda d: d.find_element(By.ID, "resume-button").click())
        until(driver, lambda d: "SUCCEEDED" in heading(d), "the resumed execution completes")

        # A finished execution can be deleted, after a confirmation; the list follows.
        driver.get(served.url + "/ui/execution?arn=" + finished_arn)
        until(driver, lambda d: "STOPPED" in heading(d), "the stopped execution's page")
        read(driver, lambda d: d.find_element(By.ID, "delete-button").click())
        confirm = until(driver, lambda d: d.switch_to.alert, "the UI asks before deleting")
        assert confirm.text == "Delete this execution and everything stored about it?"
        confirm.accept()
        until(driver, lambda d: d.current_url.endswith("/ui/"), "back to the list")
        until(driver, lambda d: len(rows(d)) == 1, "only the other execution is listed")
        assert console_errors(driver) == []


async def test_a_developer_pauses_resumes_and_deletes_in_the_browser() -> None:
    async with serve_ui() as served:
        waiting = served.start("approval", "o-3001", name="order-3001")
        finished = served.start("approval", "o-3002", name="order-3002")
        await served.until_waiting_for_callback(waiting.arn)
        await served.until_waiting_for_callback(finished.arn)
        served.backend.stop_execution(finished.arn)

        await anyio.to_thread.run_sync(browse, served, waiting.arn, finished.arn)

        assert served.backend.describe(waiting.arn).status is ExecutionStatus.SUCCEEDED
        kinds = [e.event_type for e in served.backend.history(waiting.arn)]
        assert kinds.index(EventType.EXECUTION_PAUSED) < kinds.index(EventType.CALLBACK_SUCCEEDED)
        assert kinds.index(EventType.CALLBACK_SUCCEEDED) < kinds.index(EventType.EXECUTION_RESUMED)
        with pytest.raises(ResourceNotFoundError):
            served.backend.describe(finished.arn)
