"""Exports: CSV contents and formula escaping, the task list's filters reused, download rights,
expiry and the clean-up job, a member's own data end to end on a real worker, cancel removing the
partial file."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from blog.models import Comment
from dashboard.exports.models import Export
from dashboard.exports.scratch import LOCAL, scratch_path
from dashboard.exports.services import csv_cell, export_write, exports_cleanup
from dashboard.models import TaskAction, TaskEvent, TaskLaunch
from dashboard.tasks import exports_cleanup_task
from site_config.machinery.stored_texts import stored_text
from tests.blog_helpers import make_post
from tests.conftest import grant
from tests.livetools import wait_for


def _export(owner, kind, params=None, **fields):
    return Export.objects.create(owner=owner, kind=kind, params=params or {}, task_id=f"t-{uuid.uuid4()}",
                                 expires_at=timezone.now() + timedelta(hours=1), **fields)


def _write(export) -> tuple[list[tuple], str]:
    """Write the export in this process (the task's body without the worker); returns the progress
    reports and the file's text."""
    reports = []
    export_write(export_id=export.pk, progress=lambda current, total, message: reports.append((current, total)))
    export.refresh_from_db()
    with default_storage.open(export.file.name, "rb") as stored:
        return reports, stored.read().decode()


def _task_row(name: str, status: str, args: str = "[]"):
    task_id = str(uuid.uuid4())
    TaskResult.objects.create(task_id=task_id, task_name=name, status=status, task_args=args)
    return task_id


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),
    ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("plain text", "plain text"), (-0.5, -0.5), (3, 3), (None, ""),
])
def test_csv_cells_that_a_spreadsheet_would_evaluate_are_escaped(value, cell):
    assert csv_cell(value) == cell


def test_task_export_holds_exactly_the_filtered_rows_in_batches_with_progress(db, alice, settings):
    settings.EXPORT_BATCH_ROWS = 2
    failed = [_task_row("dashboard.tasks.demo_job_task", states.FAILURE, "=cmd|' /C calc'!A0") for _ in range(5)]
    _task_row("dashboard.tasks.demo_job_task", states.SUCCESS)
    _task_row("dashboard.tasks.daily_report_task", states.FAILURE)
    TaskLaunch.objects.create(task_id=failed[0], launched_by=alice, queue="celery")
    export = _export(alice, Export.Kind.TASKS, {"state": "FAILURE", "name": "dashboard.tasks.demo_job_task"})
    reports, text = _write(export)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["task_id"] for row in rows) == sorted(failed)
    assert {row["status"] for row in rows} == {"FAILURE"}
    assert {row["task_args"] for row in rows} == {"'=cmd|' /C calc'!A0"}
    assert next(row for row in rows if row["task_id"] == failed[0])["launched_by"] == "alice"
    assert reports[:3] == [(2, 5), (4, 5), (5, 5)]  # one report per batch of 2, then the final one
    assert export.status == Export.Status.READY and export.rows == 5
    assert not scratch_path(node=LOCAL, task_id=f"export-{export.pk}").exists()


def test_comment_exports_escape_formulas_and_follow_the_queue_filter(db, alice, bob):
    post = make_post(alice)
    Comment.objects.create(post=post, author=bob, body="=1+2 held", status=Comment.Status.HELD, score=-1.5)
    Comment.objects.create(post=post, author=bob, body="fine", status=Comment.Status.APPROVED)
    _reports, text = _write(_export(alice, Export.Kind.MODERATION, {"status": "held"}))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["body"], row["status"], row["score"], row["author__username"]) for row in rows] == [
        ("'=1+2 held", "held", "-1.5", "bob")]
    _reports, text = _write(_export(alice, Export.Kind.COMMENTS))
    assert sorted(row["body"] for row in csv.DictReader(io.StringIO(text))) == ["'=1+2 held", "fine"]


def test_member_data_export_holds_their_account_and_only_their_comments(db, alice, bob, charlie):
    post = make_post(alice)
    Comment.objects.create(post=post, author=bob, body="bob's words", status=Comment.Status.APPROVED)
    Comment.objects.create(post=post, author=charlie, body="charlie's words", status=Comment.Status.APPROVED)
    _reports, text = _write(_export(bob, Export.Kind.MEMBER_DATA))
    data = json.loads(text)
    assert data["account"]["username"] == "bob" and data["account"]["email"] == "bob@example.com"
    assert [comment["body"] for comment in data["comments"]] == ["bob's words"]


def test_only_the_owner_downloads_an_export(client, db, alice, bob, charlie, django_user_model):
    export = _export(bob, Export.Kind.MEMBER_DATA, status=Export.Status.READY, filename="member-data.json", rows=1)
    export.file.name = default_storage.save(f"exports/{bob.pk}/test.json", ContentFile(b'{"ok": true}'))
    export.save()
    url = f"/dashboard/exports/{export.pk}/download/"
    client.force_login(bob)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response) == b'{"ok": true}'
    assert "attachment" in response["Content-Disposition"]
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    for other in (charlie, grant(alice, "dashboard.export_data"), root):
        client.force_login(other)
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the log-in page


def test_expired_exports_are_refused_then_removed_with_their_files_by_the_cleanup(client, db, bob, settings):
    expired = _export(bob, Export.Kind.MEMBER_DATA, status=Export.Status.READY, filename="old.json")
    expired.file.name = default_storage.save("exports/old.json", ContentFile(b"{}"))
    expired.expires_at = timezone.now() - timedelta(minutes=1)
    expired.save()
    fresh = _export(bob, Export.Kind.MEMBER_DATA, status=Export.Status.READY, filename="new.json")
    fresh.file.name = default_storage.save("exports/new.json", ContentFile(b"{}"))
    fresh.save()
    client.force_login(bob)
    assert client.get(f"/dashboard/exports/{expired.pk}/download/").status_code == 410
    assert settings.PERIODIC_TASKS["remove-expired-exports"]["task"] == exports_cleanup_task.name
    assert exports_cleanup_task.apply().get() == {"removed": 1}  # the beat job's task, run here
    assert exports_cleanup() == 0
    assert not default_storage.exists(expired.file.name)
    assert default_storage.exists(fresh.file.name)
    assert list(Export.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_staff_exports_need_the_export_permission(client, db, alice, bob):
    client.force_login(alice)  # staff made after the grant migration: no permission yet
    assert client.get("/dashboard/exports/new/?kind=tasks").status_code == 403
    assert client.post("/dashboard/exports/new/", {"kind": "comments"}).status_code == 403
    client.force_login(bob)
    assert client.get("/dashboard/exports/new/?kind=tasks").status_code == 302  # members: the staff log-in
    client.force_login(grant(alice, "dashboard.export_data"))
    page = client.get("/dashboard/exports/new/?kind=tasks&state=FAILURE&cursor=x")
    body = page.content.decode()
    # The export keeps the filters, never the page's position (the language switch's return path may).
    assert page.status_code == 200 and 'name="state"' in body and 'name="cursor"' not in body
    assert not Export.objects.exists()


def test_the_task_list_and_moderation_pages_link_to_their_exports_for_staff_who_may_export(client, db, alice):
    client.force_login(alice)
    assert "/dashboard/exports/new/" not in client.get("/dashboard/tasks/").content.decode()
    assert "/dashboard/exports/new/" not in client.get("/dashboard/moderation/").content.decode()
    client.force_login(grant(alice, "dashboard.export_data"))
    assert "/dashboard/exports/new/?kind=tasks&amp;state=FAILURE" in client.get(
        "/dashboard/tasks/?state=FAILURE").content.decode()
    queue = client.get("/dashboard/moderation/?status=spam").content.decode()
    assert "/dashboard/exports/new/?kind=moderation&amp;status=spam" in queue
    assert "/dashboard/exports/new/?kind=comments" in queue


# --- on a real worker ---------------------------------------------------------------------------

def test_member_export_end_to_end_lands_on_the_task_page_and_offers_the_download(client, live_worker, alice, bob):
    post = make_post(alice)
    Comment.objects.create(post=post, author=bob, body="@mention me", status=Comment.Status.APPROVED)
    client.force_login(bob)
    response = client.post("/dashboard/my-data/")
    export = Export.objects.get(owner=bob)
    assert response.status_code == 302 and response["Location"] == f"/dashboard/tasks/{export.task_id}/"
    row = wait_for(lambda: TaskResult.objects.filter(task_id=export.task_id, status__in=states.READY_STATES).first(),
                   timeout=30)
    assert row.status == states.SUCCESS
    panel = client.get(f"/dashboard/exports/task/{export.task_id}/").content.decode()
    assert f"/dashboard/exports/{export.pk}/download/" in panel
    download = client.get(f"/dashboard/exports/{export.pk}/download/")
    data = json.loads(b"".join(download))
    assert [comment["body"] for comment in data["comments"]] == ["@mention me"]  # JSON: no CSV escaping
    assert f"/dashboard/exports/{export.pk}/download/" in client.get("/dashboard/my-data/").content.decode()
    client.force_login(alice)  # staff see the task, but not the file
    assert client.get(f"/dashboard/exports/task/{export.task_id}/").status_code == 204


def test_cancelled_export_removes_its_partial_file_and_ends_revoked(client, live_worker, alice, bob, gate, settings):
    post = make_post(alice)
    for number in range(3):
        Comment.objects.create(post=post, author=bob, body=f"comment {number}", status=Comment.Status.APPROVED)
    from tests.worker_tasks import gated_export_start

    export = gated_export_start(owner=bob, kind=Export.Kind.MEMBER_DATA, gate=gate)
    # The job has written its batch to its worker's scratch file and waits at the gate before reporting it.
    part = wait_for(lambda: next((path for path in settings.EXPORT_WORK_DIR.glob(f"*/{export.task_id}.part")
                                  if path.stat().st_size > 0), None), timeout=30)
    client.force_login(bob)
    assert client.post(f"/dashboard/tasks/{export.task_id}/cancel/").status_code == 302
    gate.open()
    row = wait_for(lambda: TaskResult.objects.filter(task_id=export.task_id, status__in=states.READY_STATES).first(),
                   timeout=30)
    assert row.status == states.REVOKED
    assert TaskEvent.objects.filter(task_id=export.task_id, kind="revoked", detail=stored_text("reason.cancelled_by", user="bob")).exists()
    assert TaskAction.objects.get(task_id=export.task_id).kind == "cancel"
    export.refresh_from_db()
    assert export.status == Export.Status.CANCELLED and not export.file
    assert not part.exists()
    assert not default_storage.exists(f"exports/{bob.pk}") or default_storage.listdir(f"exports/{bob.pk}")[1] == []


def test_staff_export_of_the_filtered_task_list_end_to_end(client, live_worker, alice):
    failed = [_task_row("dashboard.tasks.demo_job_task", states.FAILURE, "=2*3") for _ in range(3)]
    _task_row("dashboard.tasks.demo_job_task", states.SUCCESS)
    client.force_login(grant(alice, "dashboard.export_data"))
    confirm = client.get("/dashboard/exports/new/?kind=tasks&state=FAILURE").content.decode()
    assert "3 rows match" in confirm
    response = client.post("/dashboard/exports/new/", {"kind": "tasks", "state": "FAILURE"})
    export = Export.objects.get(owner=alice)
    assert response["Location"] == f"/dashboard/tasks/{export.task_id}/"
    row = wait_for(lambda: TaskResult.objects.filter(task_id=export.task_id, status__in=states.READY_STATES).first(),
                   timeout=30)
    assert row.status == states.SUCCESS
    download = client.get(f"/dashboard/exports/{export.pk}/download/")
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(download).decode())))
    assert sorted(r["task_id"] for r in rows) == sorted(failed)
    assert {r["task_args"] for r in rows} == {"'=2*3"}


def test_export_page_without_a_kind_says_what_can_be_exported(client, db, alice):
    client.force_login(grant(alice, "dashboard.export_data"))
    chooser = client.get("/dashboard/exports/new/")
    assert chooser.status_code == 200
    assert "Tasks (CSV)" in chooser.content.decode() and "/dashboard/tasks/" in chooser.content.decode()
    wrong = client.get("/dashboard/exports/new/", {"kind": "passwords"})
    assert wrong.status_code == 400 and "no export called" in wrong.content.decode()


def test_an_htmx_filter_of_the_task_list_and_queue_brings_export_links_that_follow_it(client, db, alice):
    client.force_login(grant(alice, "dashboard.export_data"))
    table = client.get("/dashboard/tasks/?state=FAILURE", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="task-export-link" hx-swap-oob="true"' in table and "kind=tasks&amp;state=FAILURE" in table
    queue = client.get("/dashboard/moderation/?status=spam", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="moderation-export-links" hx-swap-oob="true"' in queue and "kind=moderation&amp;status=spam" in queue


def test_export_confirmation_counts_matching_rows_only_up_to_its_bound(client, db, alice):
    from dashboard.exports import views

    TaskResult.objects.bulk_create([
        TaskResult(task_id=f"bound-{i}", task_name="dashboard.tasks.demo_job_task", status=states.FAILURE)
        for i in range(views.CONFIRM_COUNT_LIMIT + 5)])
    client.force_login(grant(alice, "dashboard.export_data"))
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/dashboard/exports/new/?kind=tasks&state=FAILURE").content.decode()
    assert f"More than {views.CONFIRM_COUNT_LIMIT} rows match" in page
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


@pytest.mark.parametrize("loses", ["staff", "permission", "active"])
def test_a_staff_export_is_not_downloaded_once_its_maker_loses_staff_or_the_export_permission(
        client, db, alice, loses, django_user_model):
    maker = grant(alice, "dashboard.export_data")
    export = _export(maker, Export.Kind.TASKS, status=Export.Status.READY, filename="tasks.csv",
                     file=default_storage.save(f"exports/test-{uuid.uuid4()}.csv", ContentFile(b"task_id\n")))
    client.force_login(maker)
    assert client.get(f"/dashboard/exports/{export.pk}/download/").status_code == 200
    if loses == "staff":
        django_user_model.objects.filter(pk=maker.pk).update(is_staff=False)
    elif loses == "active":
        django_user_model.objects.filter(pk=maker.pk).update(is_active=False)
    else:
        maker.user_permissions.clear()
    client.force_login(django_user_model.objects.get(pk=maker.pk))
    response = client.get(f"/dashboard/exports/{export.pk}/download/")
    assert response.status_code in (302, 403)  # 302: an inactive account is signed out
    if response.status_code == 403:
        assert "Exporting needs the permission" in response.content.decode()
    assert client.get(f"/dashboard/exports/task/{export.task_id}/").status_code in (204, 302)
