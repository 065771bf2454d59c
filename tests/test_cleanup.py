"""Batched clean-up of old task results: exactly the old rows go, in bounded batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery import states
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch
from dashboard.monitor.maintenance import task_results_cleanup
from dashboard.tasks import cleanup_task_results_task

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _results(prefix: str, count: int, done: datetime) -> None:
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=f"{prefix}-{i}", status=states.SUCCESS, task_name="t") for i in range(count)]
    )
    TaskResult.objects.filter(task_id__startswith=f"{prefix}-").update(date_done=done)


def test_cleanup_removes_exactly_the_rows_older_than_the_age_in_batches(db):
    # Interleave old and new ids so each primary-key range holds both.
    for round_ in range(5):
        _results(f"old{round_}", 7, NOW - timedelta(days=30, seconds=1))
        _results(f"new{round_}", 3, NOW - timedelta(days=29, hours=23, minutes=59))
    _results("edge", 2, NOW - timedelta(days=30))  # exactly the age: kept (strictly older goes)
    keep = set(TaskResult.objects.exclude(task_id__startswith="old").values_list("task_id", flat=True))
    batches = []
    with CaptureQueriesContext(connection) as queries:
        counts = task_results_cleanup(
            older_than=timedelta(days=30), batch_size=4, now=NOW, on_batch=lambda done, total: batches.append((done, total))
        )
    assert counts["deleted_results"] == 35
    assert set(TaskResult.objects.values_list("task_id", flat=True)) == keep
    assert len(batches) > 5 and batches[-1][0] == batches[-1][1]
    # No query ever reads rows (only MIN/MAX bounds and DELETE ... WHERE id ranges).
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert all("MIN(" in sql.upper() for sql in reads), reads
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("DELETE")]
    assert deletes and all('"id" >=' in sql and '"id" <' in sql for sql in deletes if "celery_taskmeta" in sql)


def test_cleanup_also_removes_old_launch_records_and_nothing_when_nothing_is_old(db, alice):
    launch = TaskLaunch.objects.create(task_id="old-launch", launched_by=alice)
    TaskLaunch.objects.filter(pk=launch.pk).update(created_at=NOW - timedelta(days=31))
    TaskLaunch.objects.create(task_id="fresh-launch", launched_by=alice)
    _results("fresh", 3, NOW)
    counts = task_results_cleanup(older_than=timedelta(days=30), now=NOW)
    assert counts["deleted_results"] == 0 and counts["deleted_launches"] == 1
    assert list(TaskLaunch.objects.values_list("task_id", flat=True)) == ["fresh-launch"]


def test_cleanup_task_uses_the_configured_age(db, settings):
    settings.TASK_RESULT_MAX_AGE_DAYS = 2
    now = datetime.now(UTC)
    _results("three-days", 4, now - timedelta(days=3))
    _results("one-day", 2, now - timedelta(days=1))
    outcome = cleanup_task_results_task.apply().get()
    assert outcome["deleted_results"] == 4
    assert not TaskResult.objects.filter(task_id__startswith="three-days").exists()
    assert TaskResult.objects.filter(task_id__startswith="one-day").count() == 2


def test_cleanup_takes_a_tasks_timeline_events_with_it_and_keeps_those_of_tasks_still_kept(db):
    from dashboard.models import TaskEvent

    _results("gone", 1, NOW - timedelta(days=31))
    _results("kept", 1, NOW - timedelta(days=31))
    TaskResult.objects.filter(task_id="kept-0").update(date_done=NOW)  # a long task that finished late
    for task_id in ("gone-0", "kept-0"):
        TaskEvent.objects.create(task_id=task_id, kind="queued", at=NOW - timedelta(days=31))
    TaskEvent.objects.create(task_id="never-stored", kind="queued", at=NOW - timedelta(days=40))
    counts = task_results_cleanup(older_than=timedelta(days=30), now=NOW)
    assert counts["deleted_events"] == 2
    assert list(TaskEvent.objects.values_list("task_id", flat=True)) == ["kept-0"]


def test_records_cleanup_keeps_each_table_for_its_own_retention_and_never_an_unsent_email(db, alice, settings):
    from blog.models import Announcement, AnnouncementDelivery, ModerationDecision, OutboundEmail
    from dashboard.models import ControlAction
    from dashboard.monitor.maintenance import records_cleanup
    from tests.blog_helpers import make_post

    settings.AUDIT_MAX_AGE_DAYS = 365
    settings.OUTBOX_MAX_AGE_DAYS = 90

    def aged(model, pk, days, field="created_at"):
        model.objects.filter(pk=pk).update(**{field: NOW - timedelta(days=days)})

    old_control = ControlAction.objects.create(kind=ControlAction.Kind.choices[0][0], user=alice)
    new_control = ControlAction.objects.create(kind=ControlAction.Kind.choices[0][0], user=alice)
    aged(ControlAction, old_control.pk, 366)
    aged(ControlAction, new_control.pk, 364)

    post = make_post(alice)
    comment = post.comments.create(author=alice, body="hello")
    decision = ModerationDecision.objects.create(comment=comment, previous_status="pending", new_status="approved")
    aged(ModerationDecision, decision.pk, 400)

    def email(status, days):
        row = OutboundEmail.objects.create(to="x@example.com", subject="s", body="b", kind="test", status=status)
        aged(OutboundEmail, row.pk, days, field="updated_at")
        return row

    sent_old, failed_old, queued_old, sent_new = (
        email("sent", 91), email("failed", 91), email("queued", 91), email("sent", 89))
    done = Announcement.objects.create(subject="done", body="b", status=Announcement.Status.DONE)
    sending = Announcement.objects.create(subject="sending", body="b", status=Announcement.Status.SENDING)
    done_email, sending_email = email("sent", 120), email("sent", 120)
    done_delivery = AnnouncementDelivery.objects.create(announcement=done, member=alice, email=done_email)
    sending_delivery = AnnouncementDelivery.objects.create(announcement=sending, member=alice, email=sending_email)
    aged(AnnouncementDelivery, done_delivery.pk, 120)
    aged(AnnouncementDelivery, sending_delivery.pk, 120)

    deleted = records_cleanup(now=NOW)

    assert list(ControlAction.objects.values_list("pk", flat=True)) == [new_control.pk]
    assert not ModerationDecision.objects.exists() and deleted["blog.ModerationDecision"] == 1
    assert set(OutboundEmail.objects.values_list("pk", flat=True)) == {queued_old.pk, sent_new.pk, sending_email.pk}
    assert list(AnnouncementDelivery.objects.values_list("pk", flat=True)) == [sending_delivery.pk]
    assert sent_old.pk not in OutboundEmail.objects.values_list("pk", flat=True)
    assert failed_old.pk not in OutboundEmail.objects.values_list("pk", flat=True)
