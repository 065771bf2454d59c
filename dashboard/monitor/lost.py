"""Tasks whose worker is gone: found, marked failed with the reason, and sent again when safe.

A task is lost when its row says it is running (STARTED or PROGRESS) and no live worker has claimed
it in its heartbeat (dashboard/live/heartbeat.py) for WORKER_LOST_AFTER_SECONDS. The wait is counted
in Redis from the first sweep that missed it, so a Redis restart (which forgets every heartbeat
until the workers write them again) starts the count afresh, and nothing is judged while Redis
cannot be read at all.

A lost task whose code declares it safe to run again (`acks_late`, and not `retryable = False`) is
sent again as a new task linked to the original, like a dashboard retry. If the broker later
delivers the original once more (its message was never acknowledged), LiveTask refuses to run it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime

import redis
from celery import current_app, states
from celery import uuid as celery_uuid
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.live.heartbeat import redis_client, running_task_ids
from dashboard.live.publish import publish_view
from dashboard.live.store import load_view, record_event
from dashboard.models import TaskAction, TaskEvent, TaskLaunch

logger = logging.getLogger(__name__)

RUNNING_STATES = (states.STARTED, "PROGRESS")
MISSING_PREFIX = "site:task-unclaimed-since:"
LOST_EVENT = "lost"


def was_declared_lost(task_id: str) -> bool:
    return TaskEvent.objects.filter(task_id=task_id, kind=LOST_EVENT).exists()


def tasks_lost_sweep(*, client: redis.Redis | None = None, now: float | None = None) -> list[str]:
    """Declare lost the running tasks no live worker has claimed for long enough; their ids."""
    lost_after = settings.WORKER_LOST_AFTER_SECONDS
    running = list(TaskResult.objects.filter(status__in=RUNNING_STATES).values_list("task_id", "worker"))
    if not running:
        return []
    client = client or redis_client()
    now = time.time() if now is None else now
    try:
        claimed = running_task_ids(client)
        unclaimed = [(task_id, worker) for task_id, worker in running if task_id not in claimed]
        overdue = []
        for task_id, worker in unclaimed:
            key = f"{MISSING_PREFIX}{task_id}"
            client.set(key, now, nx=True, ex=int(lost_after * 3) + 60)
            since = float(client.get(key) or now)
            if now - since >= lost_after:
                overdue.append((task_id, worker, since))
    except (redis.RedisError, OSError) as error:
        logger.warning("lost-task sweep skipped: Redis cannot be read (%s)", error)
        return []
    return [task_id for task_id, worker, since in overdue if _declare_lost(task_id, worker, since)]


def _declare_lost(task_id: str, worker: str | None, unclaimed_since: float) -> bool:
    worker = worker or "its worker"
    reason = (f"worker lost: {worker} stopped running it (no heartbeat has claimed it since "
              f"{timezone.localtime(datetime.fromtimestamp(unclaimed_since, tz=UTC)):%H:%M:%S %Z})")
    with transaction.atomic():
        updated = TaskResult.objects.filter(task_id=task_id, status__in=RUNNING_STATES).update(
            status=states.FAILURE,
            result=json.dumps({"exc_type": "WorkerLost", "exc_message": [reason], "exc_module": "builtins"}),
            traceback=f"WorkerLost: {reason}\n",
            date_done=timezone.now(),
        )
        if not updated:
            return False  # it finished (or was revoked) meanwhile
        record_event(task_id, LOST_EVENT, reason)
    logger.warning("task %s declared lost: %s", task_id, reason)
    new_id = _send_again(task_id)
    view = load_view(task_id)
    if view is not None:
        publish_view(view)
    return bool(updated) or bool(new_id)


def _send_again(task_id: str) -> str | None:
    row = TaskResult.objects.filter(task_id=task_id).first()
    task = current_app.tasks.get(row.task_name or "") if row else None
    launch = TaskLaunch.objects.filter(task_id=task_id).first()
    if task is None or not getattr(task, "acks_late", False) or not getattr(task, "retryable", True):
        return None
    if launch is None or launch.args is None:
        return None
    new_id = celery_uuid()
    with transaction.atomic():
        TaskAction.objects.create(batch=uuid.uuid4(), kind=TaskAction.Kind.RETRY, task_id=task_id,
                                  new_task_id=new_id, user=None, note="sent again automatically: worker lost")
        record_event(task_id, "retried", f"as {new_id}, automatically (worker lost)")
    headers = {"retry_of": task_id}
    if launch.launched_by_id:
        headers["launched_by"] = launch.launched_by_id
    task.apply_async(launch.args, launch.kwargs or {}, task_id=new_id, queue=launch.queue or None, headers=headers)
    return new_id
