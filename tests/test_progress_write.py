"""How a progress report is stored: one conditional UPDATE of the task's row (the result backend,
site_config/machinery/results.py), through Celery's own backend API as the worker calls it.

On PostgreSQL the test also reads the table's statistics: the reports after the first are HOT
updates (no index touched), which is the point of the light write.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from celery import states
from django.db import connection
from django_celery_results.models import TaskResult

from site_config.celery import app


def _task_row(status: str) -> str:
    task_id = str(uuid.uuid4())
    TaskResult.objects.create(task_id=task_id, task_name="dashboard.tasks.demo_job_task", status=status,
                              content_type="application/json", content_encoding="utf-8")
    return task_id


@pytest.mark.django_db
def test_progress_report_stores_the_progress_and_leaves_the_finish_time_alone():
    task_id = _task_row(states.STARTED)
    before = TaskResult.objects.get(task_id=task_id).date_done
    app.backend.store_result(task_id, {"current": 3, "total": 10, "message": "step 3"}, "PROGRESS")
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == "PROGRESS"
    assert json.loads(row.result) == {"current": 3, "total": 10, "message": "step 3"}
    assert row.date_done == before


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [states.REVOKED, states.FAILURE, states.SUCCESS])
def test_a_late_progress_report_never_overwrites_an_outcome(outcome):
    task_id = _task_row(outcome)
    app.backend.store_result(task_id, {"current": 9, "total": 10, "message": "late"}, "PROGRESS")
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == outcome
    assert row.result is None


@pytest.mark.django_db
def test_a_progress_report_for_a_task_without_a_row_creates_it():
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, {"current": 1, "total": 2, "message": ""}, "PROGRESS")
    assert TaskResult.objects.get(task_id=task_id).status == "PROGRESS"


@pytest.mark.postgresql_only  # HOT updates are PostgreSQL's
@pytest.mark.django_db(transaction=True)
def test_progress_reports_after_the_first_are_hot_updates_on_postgresql():
    task_id = _task_row(states.STARTED)
    app.backend.store_result(task_id, {"current": 0, "total": 50, "message": ""}, "PROGRESS")

    def counters() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                           "WHERE relname = 'django_celery_results_taskresult'")
            return cursor.fetchone()

    updates_before, hot_before = counters()
    for step in range(1, 21):
        app.backend.store_result(task_id, {"current": step, "total": 50, "message": f"step {step}"}, "PROGRESS")
    deadline = time.monotonic() + 10
    while True:
        updates, hot = counters()
        if updates - updates_before >= 20 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert updates - updates_before == 20
    # A page holds several versions of the small row; an update that finds no room on the page
    # cannot be HOT, which the table's fillfactor makes rare.
    assert hot - hot_before >= 18
