"""In headless Chromium: staff disable a schedule with HTMX, see crontab errors in place, run a
schedule now and land on its live task page; the reports page draws its charts."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from playwright.sync_api import expect

from dashboard.models import DailyReport, ScheduleChange
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep pictures of the pages


@pytest.fixture
def alice(db):
    """Staff with django-celery-beat's "change periodic task" permission (needed to change schedules)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    user = make_user("alice", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_periodictask"))
    return user


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_staff_disables_edits_and_runs_a_schedule_in_the_browser(page, live_worker, daphne_server, alice):
    report = PeriodicTask.objects.get(name="daily-report")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/schedules/")
    row = page.locator(f"#schedule-{report.pk}")
    expect(row.locator(".schedule-words")).to_have_text("every day at 00:05 UTC")
    _shot(page, "schedules")
    page.evaluate("window.__sameDocument = true")
    row.get_by_role("button", name="Disable").click()
    expect(row.get_by_role("button", name="Enable")).to_be_visible()  # the row swapped by HTMX (CSRF header sent)
    assert page.evaluate("window.__sameDocument === true")
    assert not PeriodicTask.objects.get(pk=report.pk).enabled
    assert ScheduleChange.objects.filter(periodic_task=report, action="disabled", changed_by=alice).exists()

    row.get_by_role("link", name="Edit").click()
    page.get_by_role("textbox", name="Crontab").fill("5 24 * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedule-form .field-error")).to_have_text("'24' is not a valid hour.")
    _shot(page, "schedule-edit-error")
    page.get_by_role("textbox", name="Crontab").fill("10 1 * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator(".schedule-words")).to_have_text("every day at 01:10 UTC")
    expect(page.locator(".change-log")).to_contain_text("every day at 00:05 UTC → every day at 01:10 UTC")
    _shot(page, "schedule-detail")

    page.get_by_role("button", name="Run now").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=20_000)
    _shot(page, "run-now-task")


def test_reports_page_draws_thirty_day_charts(page, live_server_url, alice):
    today = timezone.localdate()
    for offset in range(1, 31):
        DailyReport.objects.create(day=today - timedelta(days=offset), new_members=offset % 7, comments_total=offset,
                                   tasks_total=40 + offset, tasks_failed=offset % 3, emails_sent=offset % 5,
                                   posts_published=offset % 2,
                                   details={"tasks_by_state": {"SUCCESS": {"count": 40, "p50": 0.2, "p95": 1.5}},
                                            "comments_by_outcome": {"approved": offset}, "top_failing_tasks": []})
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/reports/")
    expect(page.locator("svg.chart")).to_have_count(6)
    expect(page.locator("svg.chart.tasks_total rect.bar")).to_have_count(30)
    _shot(page, "reports")
    page.get_by_role("link", name=re.compile((today - timedelta(days=1)).strftime("%Y-%m-%d"))).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Report for")
    _shot(page, "report-detail")


def test_staff_create_duplicate_and_delete_a_schedule_in_the_browser(page, live_server_url):
    from tests.conftest import grant, make_user

    # Creating a schedule is running a task with arguments: it needs run_task too (docs/security.md).
    grant(make_user("erin", staff=True), "django_celery_beat.add_periodictask",
          "django_celery_beat.change_periodictask", "django_celery_beat.delete_periodictask", "dashboard.run_task")
    browser_login(page, live_server_url, "erin")
    page.goto(f"{live_server_url}/dashboard/schedules/")
    page.get_by_role("link", name="New schedule").click()
    page.get_by_role("link", name="Every so often (interval)").click()
    page.get_by_label("Name").fill("nightly-export")
    page.get_by_label("Task").select_option("dashboard.tasks.demo_job_task")
    page.get_by_label("Positional arguments (JSON list)").fill("[2, 0]")
    page.get_by_label("Every").fill("15")
    page.get_by_label("Unit").select_option("minutes")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("nightly-export")
    expect(page.locator(".schedule-words")).to_have_text("every 15 minutes")
    created = PeriodicTask.objects.get(name="nightly-export")
    assert created.args == "[2, 0]" and created.enabled

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("nightly-export (copy)")
    expect(page.locator(".messages")).to_contain_text("copied as nightly-export (copy), disabled")
    assert not PeriodicTask.objects.get(name="nightly-export (copy)").enabled

    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete nightly-export (copy)").click()
    expect(page).to_have_url(f"{live_server_url}/dashboard/schedules/")
    expect(page.locator(".messages")).to_contain_text("Schedule nightly-export (copy) deleted.")
    expect(page.locator('tr[data-name="nightly-export"]')).to_have_count(1)
    expect(page.locator('tr[data-name="nightly-export (copy)"]')).to_have_count(0)
    expect(page.locator(".changes")).to_contain_text("deleted nightly-export (copy)")
    assert list(ScheduleChange.objects.order_by("id").values_list("action", flat=True)) == ["created", "duplicated", "deleted"]

    # A schedule from settings offers no delete, and says why.
    page.goto(f"{live_server_url}/dashboard/schedules/{PeriodicTask.objects.get(name='daily-report').pk}/")
    expect(page.locator(".declared-notice")).to_contain_text("can be disabled but not deleted")
    expect(page.get_by_role("link", name="Delete…")).to_have_count(0)
