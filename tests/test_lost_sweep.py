"""The lost-task sweep (dashboard/monitor/lost.py) on the session's Redis, with its clock given: a
run of a task is declared lost only when no live worker has claimed that run for long enough."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery import states
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.monitor.lost import redis_time, tasks_lost_sweep
from site_config.ops.liveness import redis_client

pytestmark = pytest.mark.django_db


def _running(started) -> str:
    task_id = f"lost-sweep-{uuid.uuid4()}"
    # A task name no code declares: a lost one is failed, not sent again (nothing here consumes).
    TaskResult.objects.create(task_id=task_id, task_name="tests.no_such_task", status=states.STARTED,
                              worker="old@host", date_started=started)
    return task_id


def test_an_unclaimed_run_is_declared_lost_once_the_grace_is_over(settings):
    settings.WORKER_LOST_AFTER_SECONDS = 20
    task_id = _running(timezone.now())
    client = redis_client()
    now = redis_time(client)
    assert task_id not in tasks_lost_sweep(client=client, now=now)  # the count starts
    assert task_id not in tasks_lost_sweep(client=client, now=now + 19)
    assert task_id in tasks_lost_sweep(client=client, now=now + 21)
    assert TaskResult.objects.get(task_id=task_id).status == states.FAILURE


def test_a_task_started_again_after_its_worker_died_is_counted_afresh(settings):
    # Its worker died mid-run; the broker delivered the message again after a slow restart, and the
    # new worker has just started it (STARTED again, a new start time) without a heartbeat yet.
    settings.WORKER_LOST_AFTER_SECONDS = 20
    task_id = _running(timezone.now() - timedelta(minutes=5))
    client = redis_client()
    now = redis_time(client)
    assert task_id not in tasks_lost_sweep(client=client, now=now)  # the dead worker's run: unclaimed since now
    TaskResult.objects.filter(task_id=task_id).update(date_started=timezone.now(), worker="new@host")
    assert task_id not in tasks_lost_sweep(client=client, now=now + 60)  # the old run's count would say lost
    row = TaskResult.objects.get(task_id=task_id)
    assert row.status == states.STARTED and row.worker == "new@host"
    assert task_id not in tasks_lost_sweep(client=client, now=now + 79)
    assert task_id in tasks_lost_sweep(client=client, now=now + 81)  # this run, too, was never claimed
