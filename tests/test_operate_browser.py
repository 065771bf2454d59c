"""In headless Chromium, operating Celery from the dashboard against real workers: a task's rate limit
and a new consumer queue set through the workers page's confirmation, seen on the page and in the
worker's own replies; a running job terminated from its page with a chosen signal; the task list's
field search and its Previous link; the schedules page's bulk disable and enable."""

from __future__ import annotations

import json
import re
import socket
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from dashboard.models import ControlAction, TaskAction
from site_config.celery import app
from tests.conftest import browser_login, grant, make_user, start_worker
from tests.livetools import wait_for, worker_pid_running
from tests.worker_tasks import gated_demo_job_task

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 30_000  # ms: room for a busy machine's worker; nothing is timed against it


def _registered_line(hostname: str, task: str) -> str:
    replies = app.control.inspect(destination=[hostname], timeout=2).registered("rate_limit") or {}
    return next((line for line in replies.get(hostname) or [] if line.split(" ", 1)[0] == task), "")


def _consumed(hostname: str) -> set[str]:
    replies = app.control.inspect(destination=[hostname], timeout=2).active_queues() or {}
    return {queue["name"] for queue in replies.get(hostname) or []}


def _confirm_control(page, kind: str, label: str, hostname: str, fill) -> None:
    control = page.locator(f"#control-{kind}")
    control.locator("summary").click()
    control.get_by_label(hostname).check()
    fill(control)
    control.get_by_role("button", name=f"{label}…").click()
    expect(page.get_by_role("heading", name=f"{label}?")).to_be_visible()
    page.get_by_role("button", name=f"Yes, {label.lower()}").click()


def test_rate_limit_and_a_new_consumer_set_from_the_workers_page_reach_the_worker(page, daphne_server,
                                                                                   transactional_db):
    grant(make_user("otto", staff=True), "dashboard.set_task_rate_limit", "dashboard.change_worker_queues")
    worker = start_worker("opbrowser", "--concurrency", "1", "-Q", "opbrowser-home")
    try:
        hostname = f"opbrowser@{socket.gethostname()}"
        task = "dashboard.tasks.demo_job_task"
        browser_login(page, daphne_server.url, "otto")
        page.goto(f"{daphne_server.url}/dashboard/workers/")
        panel = page.locator(f'section.worker[data-hostname="{hostname}"]')
        expect(panel).to_be_visible(timeout=20_000)

        _confirm_control(page, "rate_limit", "Set a rate limit", hostname, lambda control: (
            control.get_by_label("Task").select_option(task), control.get_by_label("Rate limit").fill("7/m")))
        expect(page).to_have_url(f"{daphne_server.url}/dashboard/workers/")
        expect(page.locator(".messages")).to_contain_text("new rate limit set successfully")
        assert "rate_limit=7/m" in _registered_line(hostname, task)  # the worker's own account
        expect(panel.locator(f'tr[data-task-name="{task}"]')).to_have_attribute("data-rate-limit", "7/m",
                                                                                timeout=20_000)

        _confirm_control(page, "add_consumer", "Consume from a queue", hostname,
                         lambda control: control.get_by_label("Queue").fill("opbrowser-extra"))
        expect(page.locator(".messages")).to_contain_text("add consumer opbrowser-extra")
        wait_for(lambda: "opbrowser-extra" in _consumed(hostname), timeout=20)
        expect(panel.locator('[data-consumes="opbrowser-extra"]')).to_be_visible(timeout=20_000)
        assert set(ControlAction.objects.values_list("kind", flat=True)) == {"rate_limit", "add_consumer"}
    finally:
        worker.stop()


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGUSR1"])
def test_terminate_a_running_job_from_its_page_with_a_chosen_signal(page, live_worker, daphne_server, gate, signal):
    operator = grant(make_user("tess", staff=True), "dashboard.act_on_tasks")
    task = gated_demo_job_task.delay_for(operator, 2, 0, gate_key=gate.key)
    gate.open_to(1)  # step 1 runs, then the job waits at step 2: running, for as long as the test likes
    wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status="PROGRESS").exists(), timeout=30)
    wait_for(lambda: worker_pid_running(task.id), timeout=30)

    browser_login(page, daphne_server.url, "tess")
    page.goto(f"{daphne_server.url}/dashboard/tasks/{task.id}/")
    expect(page.locator(".task-status .badge")).to_have_text("Running")
    page.get_by_role("link", name="Terminate…").click()
    page.locator(f'input[name="signal"][value="{signal}"]').check()
    page.get_by_role("button", name="Terminate it").click()
    expect(page).to_have_url(f"{daphne_server.url}/dashboard/tasks/{task.id}/")
    expect(page.locator(".messages")).to_contain_text(f"Terminated with {signal}.")
    expect(page.locator(".task-status .badge")).to_have_text("Revoked", timeout=WORKER)
    expect(page.locator(".timeline")).to_contain_text(f"by tess with {signal}")  # the timeline names the signal
    assert TaskAction.objects.get(task_id=task.id, kind="terminate").note == f"signal {signal}"
    if signal == "SIGUSR1":  # the task itself stops (SoftTimeLimitExceeded) and ends revoked, not failed
        expect(page.locator(".task-status .error")).to_contain_text(f"terminated by tess with {signal}",
                                                                    timeout=WORKER)
        wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status="REVOKED", result__contains=signal).exists(),
                 timeout=30)
    number = {"SIGKILL": 9, "SIGUSR1": 10}[signal]
    wait_for(lambda: f"Terminating {task.id} ({number})" in live_worker.log(), timeout=30)


def _rows(count: int, *, name: str, status: str, start) -> list[str]:
    rows = TaskResult.objects.bulk_create([
        TaskResult(task_id=str(uuid.uuid4()), task_name=name, status=status) for _ in range(count)])
    for i, row in enumerate(rows):  # date_created is auto_now_add: set it afterwards
        TaskResult.objects.filter(pk=row.pk).update(date_created=start + i * timedelta(seconds=1))
    return [row.task_id for row in rows]


def test_task_list_field_search_pages_forward_and_back(page, live_server_url, alice):
    start = timezone.now() - timedelta(hours=1)
    wanted = _rows(30, name="app.tasks.search_me", status=states.FAILURE, start=start)
    _rows(3, name="app.tasks.search_me", status=states.SUCCESS, start=start)
    _rows(3, name="app.tasks.other", status=states.FAILURE, start=start)
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/tasks/")
    page.get_by_label("Search").fill("state:failure name:app.tasks.search_me")
    page.get_by_role("button", name="Filter").click()
    # The address is pushed once the filtered table is in (the unfiltered one has 25 rows too).
    expect(page).to_have_url(re.compile(r"q=state"))
    rows = page.locator("#task-table tbody tr[id^=task-row-]")
    expect(rows).to_have_count(25)
    expect(page.locator("#task-table")).not_to_contain_text("app.tasks.other")
    first_page = rows.evaluate_all("rows => rows.map(r => r.id)")
    page.get_by_role("link", name="Next").click()
    expect(rows).to_have_count(5)
    second_page = rows.evaluate_all("rows => rows.map(r => r.id)")
    assert sorted(first_page + second_page) == sorted(f"task-row-{task_id}" for task_id in wanted)
    page.get_by_role("link", name="Previous").click()
    expect(rows).to_have_count(25)
    assert rows.evaluate_all("rows => rows.map(r => r.id)") == first_page
    assert "q=state" in page.url and "cursor=" in page.url  # a page of the search, for a reload or a link

    page.get_by_label("Search").fill("state:nonsense")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".search-error, .errors").first).to_contain_text("not a state")


def test_schedules_bulk_disable_and_enable_in_the_browser(page, live_server_url, alice):
    grant(alice, "django_celery_beat.change_periodictask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    one, two, untouched = (PeriodicTask.objects.create(
        name=name, task="dashboard.tasks.demo_job_task", interval=interval, kwargs=json.dumps({"steps": 1}))
        for name in ("bulk-one", "bulk-two", "bulk-untouched"))
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/schedules/")
    for pt in (one, two):
        page.get_by_label(f"Select {pt.name}").check()
    page.get_by_role("button", name="Disable selected").click()
    expect(page.get_by_text("2 schedules disabled")).to_be_visible()
    for pt, enabled in ((one, "false"), (two, "false"), (untouched, "true")):
        expect(page.locator(f"#schedule-{pt.pk}")).to_have_attribute("data-enabled", enabled)
    enabled = PeriodicTask.objects.filter(name__startswith="bulk-").order_by("name").values_list("enabled", flat=True)
    assert list(enabled) == [False, False, True]

    for pt in (one, two):
        page.get_by_label(f"Select {pt.name}").check()
    page.get_by_role("button", name="Enable selected").click()
    expect(page.get_by_text("2 schedules enabled")).to_be_visible()
    for pt in (one, two, untouched):
        expect(page.locator(f"#schedule-{pt.pk}")).to_have_attribute("data-enabled", "true")
