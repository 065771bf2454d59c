"""In headless Chromium: a staff member starts the demo job and watches it finish without a reload."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login, grant

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_staff_watches_demo_job_reach_100_percent_without_reload(page, live_worker, daphne_server, alice):
    grant(alice, "dashboard.start_demo_job")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/")
    page.get_by_label("Steps").fill("12")
    page.get_by_label("Delay per step (ms)").fill("150")
    page.get_by_role("button", name="Start demo job").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    page.evaluate("window.__sameDocument = true")  # a reload would drop this marker

    bar = page.get_by_role("progressbar")
    expect(page.locator(".live.connected")).to_be_visible()
    expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]\d?)$"))  # moving, not done yet
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=20_000)
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded")
    expect(page.locator(".percent-value")).to_have_text("100%")
    expect(page.locator(".task-outcome pre.result")).to_contain_text('"steps": 12')
    # The staff panels (timeline, actions) refresh themselves once the task has finished.
    expect(page.locator('.timeline li[data-kind="succeeded"]')).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")


def test_task_list_announces_new_tasks_and_updates_rows_live(page, live_worker, daphne_server, alice):
    from dashboard.tasks import demo_job_task

    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    expect(page.locator("#task-table.connected")).to_be_visible()
    result = demo_job_task.delay_for(alice, 20, 150)
    # New rows don't push the list around: a bar says how many arrived.
    bar = page.get_by_role("link", name="1 new task: show")
    expect(bar).to_be_visible()
    expect(page.locator(f"#task-row-{result.id}")).to_have_count(0)
    bar.click()
    row = page.locator(f"#task-row-{result.id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("alice")
    # Once shown, the row changes in place until the task finishes.
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=20_000)
