"""In headless Chromium: grow a worker's pool from the workers page through its confirmation and see
the size the worker reports; see a change made elsewhere arrive live; run a task from the form and
land on its live page with the bar."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.models import ControlAction
from site_config.celery import app
from tests.conftest import browser_login, grant, make_user, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep pictures of the pages


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def operator(transactional_db):
    return grant(make_user("oscar", staff=True), "dashboard.resize_worker_pool", "dashboard.run_task")


def test_grow_the_pool_from_the_page_with_confirmation_and_see_sizes_live(page, daphne_server, operator):
    worker = start_worker("browsergrow", "--concurrency", "1", "-Q", "browsergrow-home")
    try:
        hostname = f"browsergrow@{socket.gethostname()}"
        browser_login(page, daphne_server.url, "oscar")
        page.goto(f"{daphne_server.url}/dashboard/workers/")
        panel = page.locator(f'section.worker[data-hostname="{hostname}"]')
        expect(panel.locator(".worker-pool-size")).to_have_text("1", timeout=20_000)
        expect(panel.locator(".worker-supports")).to_have_text("grow, shrink, restart; no autoscale (started without --autoscale)")

        control = page.locator("#control-pool_grow")
        control.locator("summary").click()
        control.get_by_label(hostname).check()
        control.get_by_label("Processes").fill("1")
        control.get_by_role("button", name="Grow the pool…").click()
        expect(page.get_by_role("heading", name="Grow the pool?")).to_be_visible()  # the confirmation, no JS needed
        _shot(page, "worker-control-confirm")
        assert not ControlAction.objects.exists()
        page.get_by_role("button", name="Yes, grow the pool").click()

        expect(page).to_have_url(f"{daphne_server.url}/dashboard/workers/")
        expect(page.locator(".messages")).to_contain_text(f"{hostname}: pool will grow")
        expect(panel.locator(".worker-pool-size")).to_have_text("2", timeout=20_000)
        registered = page.locator(f"#worker-{hostname.replace('@', '').replace('.', '').lower()}-registered")
        registered.locator("summary").click()
        _shot(page, "workers-page")
        assert ControlAction.objects.get(kind="pool_grow").replies == {hostname: {"ok": "pool will grow"}}

        # Live: a change made elsewhere arrives without reloading the page.
        expect(page.locator(".live.connected")).to_be_visible()
        page.evaluate("window.__sameDocument = true")
        assert app.control.pool_shrink(1, destination=[hostname], reply=True, timeout=5)
        expect(panel.locator(".worker-pool-size")).to_have_text("1", timeout=20_000)
        assert page.evaluate("window.__sameDocument === true")
        expect(registered).to_have_attribute("open", "")  # the live swap kept the reader's section open
    finally:
        worker.stop()


def test_run_a_task_from_the_form_and_land_on_its_live_page(page, live_worker, daphne_server, operator):
    browser_login(page, daphne_server.url, "oscar")
    page.goto(f"{daphne_server.url}/dashboard/workers/")
    page.get_by_role("link", name="Run a task…").click()
    page.get_by_label("Task").select_option("dashboard.tasks.demo_job_task")
    page.get_by_label("Positional arguments (JSON list)").fill("[1, 2, 3, 4, 5, 6, 7]")
    page.get_by_role("button", name="Run it").click()
    expect(page.locator(".errorlist")).to_contain_text("does not take these arguments")
    _shot(page, "run-task-error")

    page.get_by_label("Positional arguments (JSON list)").fill("[4, 300]")
    page.get_by_role("button", name="Run it").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    expect(page.locator(".progress[role=progressbar]")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=30_000)
    expect(page.locator(".progress[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
