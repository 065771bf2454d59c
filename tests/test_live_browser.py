"""In headless Chromium: a staff member starts the demo job, and watches tasks move without a reload."""

import re

import pytest
from playwright.sync_api import expect

from dashboard.models import TaskLaunch
from tests.conftest import browser_login, grant
from tests.worker_tasks import gated_demo_job_task

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 20_000  # ms: room for a busy machine's worker to pick a job up; nothing is timed against it


def test_demo_job_form_starts_a_job_launched_by_the_user_and_opens_its_page(page, live_worker, daphne_server, alice):
    grant(alice, "dashboard.start_demo_job")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/")
    page.get_by_label("Steps").fill("2")
    page.get_by_label("Delay per step (ms)").fill("0")
    page.get_by_role("button", name="Start demo job").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    task_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    launch = TaskLaunch.objects.get(task_id=task_id)
    assert (launch.launched_by, launch.args[:2]) == (alice, [2, 0])
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=WORKER)


def test_staff_watches_a_running_job_move_and_reach_100_percent_without_reload(page, live_worker, daphne_server,
                                                                               alice, gate):
    result = gated_demo_job_task.delay_for(alice, 4, 0, gate_key=gate.key)
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/{result.id}/")
    page.evaluate("window.__sameDocument = true")  # a reload would drop this marker
    expect(page.locator(".live.connected")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("Running", timeout=WORKER)  # held at the gate

    bar = page.get_by_role("progressbar")
    gate.open_to(1)
    expect(bar).to_have_attribute("aria-valuenow", "25", timeout=WORKER)  # moving, not done: it waits at step 2
    expect(page.locator(".percent-value")).to_have_text("25%")
    gate.open()
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=WORKER)
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded")
    expect(page.locator(".percent-value")).to_have_text("100%")
    expect(page.locator(".task-outcome pre.result")).to_contain_text('"steps": 4')
    # The staff panels (timeline, actions) refresh themselves once the task has finished.
    expect(page.locator('.timeline li[data-kind="succeeded"]')).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")


def test_task_list_announces_new_tasks_and_updates_rows_live(page, live_worker, daphne_server, alice, gate):
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    expect(page.locator("#task-table.connected")).to_be_visible()
    result = gated_demo_job_task.delay_for(alice, 2, 0, gate_key=gate.key)
    # New rows don't push the list around: a bar says how many arrived.
    bar = page.get_by_role("link", name="1 new task: show")
    expect(bar).to_be_visible(timeout=WORKER)  # the queued row's push: a worker's pace under load
    expect(page.locator(f"#task-row-{result.id}")).to_have_count(0)
    bar.click()
    row = page.locator(f"#task-row-{result.id}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("alice")
    # Once shown, the row changes in place: running while the job waits at its gate, then done.
    expect(row.locator(".badge")).to_have_text("Running", timeout=WORKER)
    gate.open()
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=WORKER)
