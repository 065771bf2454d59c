"""In Chromium: a member asks for their data, watches the job's bar, downloads the file; another run
is cancelled from its page and ends revoked, "cancelled by" them."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from blog.models import Comment
from dashboard.exports.models import Export
from dashboard.tasks import demo_job_task
from tests.blog_helpers import make_post
from tests.conftest import browser_login
from tests.worker_tasks import gated_demo_job_task, gated_export_start

WORKER = 30_000


def test_member_exports_their_data_watches_it_downloads_it_and_cancels_another_run(page, live_worker, daphne_server,
                                                                                  alice, bob, gate):
    post = make_post(alice)
    for number in range(5):
        Comment.objects.create(post=post, author=bob, body=f"=bob's comment {number}", status=Comment.Status.APPROVED)
    browser_login(page, daphne_server.url, "bob")
    page.get_by_role("link", name="My tasks").click()
    page.get_by_role("link", name="export it").click()
    page.get_by_role("button", name="Export my data").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=WORKER)
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    link = page.get_by_role("link", name=re.compile(r"Download member-data-.*\.json"))
    expect(link).to_be_visible(timeout=WORKER)
    with page.expect_download() as download_info:
        link.click()
    data = json.loads(open(download_info.value.path(), encoding="utf-8").read())
    assert data["account"]["username"] == "bob"
    assert sorted(comment["body"] for comment in data["comments"]) == [f"=bob's comment {n}" for n in range(5)]

    # Another run, held between its batches: the bar stands part-way, then bob cancels it from the page.
    export = gated_export_start(owner=bob, kind=Export.Kind.MEMBER_DATA, gate=gate)
    page.goto(f"{daphne_server.url}/dashboard/tasks/{export.task_id}/")
    expect(page.locator(".live.connected")).to_be_visible()
    bar = page.get_by_role("progressbar")
    gate.open_to(1)  # batch 1 (2 of 5 comments) is reported; the job waits before reporting batch 2
    expect(bar).to_have_attribute("aria-valuenow", "40", timeout=WORKER)
    page.get_by_role("link", name="Cancel job…").click()
    page.get_by_role("button", name="Cancel the job").click()
    expect(page).to_have_url(f"{daphne_server.url}/dashboard/tasks/{export.task_id}/")
    expect(page.get_by_text("Cancelling: the job stops at its next progress report.")).to_be_visible()
    gate.open()
    expect(page.locator(".task-status .badge")).to_have_text("Revoked", timeout=WORKER)
    expect(page.locator(".task-status .error")).to_have_text("Revoked: cancelled by bob.")
    expect(page.get_by_role("link", name="Cancel job…")).to_be_hidden()
    expect(page.get_by_text("Cancelled: nothing was kept.")).to_be_visible()
    export.refresh_from_db()
    assert export.status == Export.Status.CANCELLED and not export.file


def test_my_tasks_shows_a_members_new_job_arriving_and_finishing_without_reload(page, live_worker, daphne_server,
                                                                               bob, charlie, gate):
    browser_login(page, daphne_server.url, "bob")
    page.goto(f"{daphne_server.url}/dashboard/my-tasks/")
    expect(page.locator("#my-tasks.connected")).to_be_visible()
    expect(page.get_by_text("You have not started any job yet.")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    theirs = demo_job_task.delay_for(charlie, 1, 0)
    mine = gated_demo_job_task.delay_for(bob, 2, 0, gate_key=gate.key)
    row = page.locator(f"#task-row-{mine.id}")
    expect(row.locator(".badge")).to_have_text("Running", timeout=WORKER)  # inserted live, held at its gate
    expect(page.get_by_text("You have not started any job yet.")).to_be_hidden()
    gate.open()
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=WORKER)
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator(f"#task-row-{theirs.id}")).to_have_count(0)
    assert page.evaluate("window.__sameDocument === true")
