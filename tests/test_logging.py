"""Every log line a task emits on a real worker carries the task's name and id."""

from __future__ import annotations

import re

import pytest
from celery import states
from django_celery_results.models import TaskResult

from dashboard.tasks import cleanup_task_results_task
from tests.livetools import wait_for

pytestmark = pytest.mark.live


def test_worker_log_lines_inside_a_task_carry_its_name_and_id(live_worker):
    result = cleanup_task_results_task.delay(max_age_days=3650)
    wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status=states.SUCCESS).exists(), timeout=30)
    wait_for(lambda: "deleted 0 task results" in live_worker.log(), timeout=10)
    lines = [line for line in live_worker.log().splitlines() if "deleted 0 task results" in line]
    mine = [line for line in lines if result.id in line]
    assert mine, lines
    assert re.search(rf"INFO \S+ dashboard\.monitor\.maintenance \[dashboard\.tasks\.cleanup_task_results_task {result.id}\] deleted", mine[0])
    # The worker's own lines outside any task say so with dashes, in the same format.
    assert re.search(r" \[- -\] ", live_worker.log())
