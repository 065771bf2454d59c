"""In Chromium with a real worker: staff export the filtered task list, the moderation queue and the
comments from each page's own link, confirm, watch the job on its live page to the end, download the
CSV and find exactly the filtered rows, formula cells escaped; staff without the permission are refused."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
from celery import states
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from blog.models import Comment
from tests.blog_helpers import make_post
from tests.conftest import browser_login, grant, make_user

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 30_000  # ms: room for a busy machine's worker; nothing is timed against it


@pytest.fixture
def exporter(transactional_db):
    return grant(make_user("edith", staff=True), "dashboard.export_data")


def _run_export_from(page, link_name: str) -> list[dict]:
    """Click the page's export link, confirm, watch the job end on its page, download the CSV."""
    page.get_by_role("link", name=link_name).click()
    page.get_by_role("button", name="Start the export").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    expect(page.locator(".live.connected")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=WORKER)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    link = page.get_by_role("link", name=re.compile(r"Download .*\.csv"))
    expect(link).to_be_visible(timeout=WORKER)
    with page.expect_download() as download_info:
        link.click()
    with open(download_info.value.path(), encoding="utf-8", newline="") as file:
        return list(csv.DictReader(io.StringIO(file.read())))


def test_task_list_export_of_a_search_holds_only_the_matching_rows_with_formulas_escaped(page, live_worker,
                                                                                        daphne_server, exporter):
    wanted = TaskResult.objects.bulk_create([
        TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.export_me", status=states.FAILURE,
                   worker=f"=HYPERLINK(\"x\")@{n}", task_args=json.dumps([n])) for n in range(5)])
    TaskResult.objects.bulk_create([  # same name, other state; other name, same state: both left out
        TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.export_me", status=states.SUCCESS),
        TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.other", status=states.FAILURE)])
    browser_login(page, daphne_server.url, "edith")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    page.get_by_label("Search").fill("state:failure name:app.tasks.export_me")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"q=state"))  # pushed once the filtered table is in
    expect(page.locator("#task-table tbody tr")).to_have_count(5)

    rows = _run_export_from(page, "Export CSV…")
    assert sorted(row["task_id"] for row in rows) == sorted(task.task_id for task in wanted)
    assert {row["status"] for row in rows} == {states.FAILURE}
    assert all(row["worker"].startswith("'=HYPERLINK") for row in rows)
    expect(page.locator(".export-download")).to_contain_text("5 rows")


def test_task_export_page_shows_the_bar_between_batches(page, live_worker, daphne_server, exporter, gate):
    """The bar moves: held at the gate after its first batch (2 of 5 rows), the page shows 40 %, then 100 %."""
    from dashboard.exports.models import Export
    from tests.worker_tasks import gated_export_start

    TaskResult.objects.bulk_create([
        TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.bar", status=states.SUCCESS) for _ in range(5)])
    export = gated_export_start(owner=exporter, kind=Export.Kind.TASKS, params={"name": "app.tasks.bar"}, gate=gate)
    browser_login(page, daphne_server.url, "edith")
    page.goto(f"{daphne_server.url}/dashboard/tasks/{export.task_id}/")
    expect(page.locator(".live.connected")).to_be_visible()
    bar = page.get_by_role("progressbar")
    gate.open_to(1)
    expect(bar).to_have_attribute("aria-valuenow", "40", timeout=WORKER)
    expect(page.locator(".task-status .badge")).to_have_text("Running")
    gate.open()
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=WORKER)
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded")
    expect(page.get_by_role("link", name=re.compile(r"Download tasks-.*\.csv"))).to_be_visible(timeout=WORKER)


def test_moderation_queue_and_comments_exports_hold_their_rows_with_formulas_escaped(page, live_worker,
                                                                                   daphne_server, exporter, bob):
    post = make_post(exporter)
    held = [Comment.objects.create(post=post, author=bob, body=f"=SUM(A{n}:A9) held", status=Comment.Status.HELD)
            for n in range(3)]
    approved = [Comment.objects.create(post=post, author=bob, body=f"+fine {n}", status=Comment.Status.APPROVED)
                for n in range(2)]
    spam = Comment.objects.create(post=post, author=bob, body="@spam", status=Comment.Status.SPAM)
    grant(exporter, "dashboard.decide_comments")
    browser_login(page, daphne_server.url, "edith")

    page.goto(f"{daphne_server.url}/dashboard/moderation/")
    rows = _run_export_from(page, "Export this queue (CSV)…")
    assert sorted(int(row["id"]) for row in rows) == [c.pk for c in held]
    assert {row["body"] for row in rows} == {f"'=SUM(A{n}:A9) held" for n in range(3)}
    expect(page.locator(".export-download")).to_contain_text("3 rows")

    # Filtered in place (htmx): the link follows the new filter.
    page.goto(f"{daphne_server.url}/dashboard/moderation/")
    page.get_by_label("Status").select_option("approved")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#moderation-queue")).to_contain_text("+fine 0")
    rows = _run_export_from(page, "Export this queue (CSV)…")
    assert sorted(int(row["id"]) for row in rows) == [c.pk for c in approved]

    page.goto(f"{daphne_server.url}/dashboard/moderation/")
    rows = _run_export_from(page, "Export all comments (CSV)…")
    assert sorted(int(row["id"]) for row in rows) == sorted(c.pk for c in [*held, *approved, spam])
    bodies = {row["body"] for row in rows}
    assert {"'+fine 0", "'+fine 1", "'@spam"} <= bodies
    expect(page.locator(".export-download")).to_contain_text("6 rows")


def test_staff_without_the_permission_are_refused_the_export(page, live_server_url, transactional_db):
    make_user("fred", staff=True)
    browser_login(page, live_server_url, "fred")
    page.goto(f"{live_server_url}/dashboard/tasks/")
    expect(page.get_by_role("link", name="Export CSV…")).to_have_count(0)
    response = page.goto(f"{live_server_url}/dashboard/exports/new/?kind=tasks")
    assert response.status == 403
    expect(page.get_by_text("Exporting needs the permission")).to_be_visible()
    page.goto(f"{live_server_url}/dashboard/moderation/")
    expect(page.get_by_role("link", name=re.compile("Export"))).to_have_count(0)
