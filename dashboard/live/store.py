"""Reading and writing task rows (django-celery-results' TaskResult plus TaskLaunch)."""

from __future__ import annotations

import json

from celery import states
from django.db import IntegrityError, transaction
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch

from .state import TaskView


def record_queued(
    *,
    task_id: str,
    task_name: str,
    argsrepr: str | None,
    kwargsrepr: str | None,
    periodic_task_name: str | None,
    launched_by: int | None,
) -> TaskView | None:
    """Create the PENDING row (and who launched it) unless the task already has one.

    Returns the new row's view, or None when the row existed (a retry re-queues the same id).
    """
    launch = None
    try:
        with transaction.atomic():
            row, created = TaskResult.objects.get_or_create(
                task_id=task_id,
                defaults={
                    "status": states.PENDING,
                    "task_name": task_name,
                    "task_args": json.dumps(argsrepr) if argsrepr is not None else None,
                    "task_kwargs": json.dumps(kwargsrepr) if kwargsrepr is not None else None,
                    "periodic_task_name": periodic_task_name,
                    "content_type": "application/json",
                    "content_encoding": "utf-8",
                },
            )
            if created and launched_by:
                launch = TaskLaunch.objects.create(task_id=task_id, launched_by_id=launched_by)
    except IntegrityError:  # a worker stored the row between our read and write
        return None
    if not created:
        return None
    return TaskView.from_row(row, launch)


def load_view(task_id: str) -> TaskView | None:
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return None
    launch = TaskLaunch.objects.select_related("launched_by").filter(task_id=task_id).first()
    return TaskView.from_row(row, launch)


def launched_by_id(task_id: str) -> int | None:
    return TaskLaunch.objects.filter(task_id=task_id).values_list("launched_by_id", flat=True).first()


def mark_unqueued(task_id: str, reason: str) -> TaskView | None:
    """A task whose message never reached the broker: its PENDING row becomes FAILURE with `reason`."""
    result = json.dumps({"exc_type": "BrokerUnavailable", "exc_message": [reason], "exc_module": "builtins"})
    updated = TaskResult.objects.filter(task_id=task_id, status=states.PENDING).update(
        status=states.FAILURE, result=result, traceback=reason
    )
    return load_view(task_id) if updated else None
