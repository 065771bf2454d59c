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
