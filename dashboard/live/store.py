"""Reading and writing task rows (django-celery-results' TaskResult plus TaskLaunch)."""

from __future__ import annotations

import json
from datetime import datetime
from datetime import timezone as dt_timezone

from celery import states
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.live.state import TaskView
from dashboard.models import TaskAction, TaskEvent, TaskLaunch
from site_config.machinery.stored_texts import shown_in_default_language, stored_text


def record_queued(
    *,
    task_id: str,
    task_name: str,
    argsrepr: str | None,
    kwargsrepr: str | None,
    periodic_task_name: str | None,
    launched_by: int | None,
    queue: str = "",
    args=None,
    kwargs=None,
    parent_id: str | None = None,
    root_id: str | None = None,
    group_id: str | None = None,
    retry_of: str | None = None,
    eta=None,
    expires=None,
    retries: int = 0,
) -> TaskView | None:
    """Create the PENDING row, how it was launched, and its "queued" event, unless the task already
    has a row. Returns the new row's view, or None when the row existed (Celery's own retry re-queues
    the same id: that is a timeline event, not a new task).
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
            if created:
                launch = TaskLaunch.objects.create(
                    task_id=task_id,
                    created_at=row.date_created,
                    launched_by_id=launched_by or None,
                    queue=queue or "",
                    args=_jsonable(args),
                    kwargs=_jsonable(kwargs),
                    parent_id=parent_id if parent_id and parent_id != task_id else None,
                    root_id=root_id if root_id and root_id != task_id else None,
                    group_id=group_id or None,
                    retry_of=retry_of or None,
                    eta=_when(eta),
                    expires=_when(expires),
                    retries=_count(retries),
                )
                TaskEvent.objects.create(task_id=task_id, kind="queued", at=row.date_created,
                                         detail=stored_text("event.queue", queue=queue) if queue else "")
    except IntegrityError:  # a worker stored the row between our read and write
        return None
    if not created:  # Celery's own retry: the same id again, with its new count and countdown
        TaskLaunch.objects.filter(task_id=task_id).update(retries=_count(retries), eta=_when(eta))
        return None
    return TaskView.from_row(row, launch)


def record_event(task_id: str, kind: str, detail: str = "") -> None:
    TaskEvent.objects.create(task_id=task_id, kind=kind, at=timezone.now(), detail=detail[:2000])


def record_runtime(task_id: str, seconds: float) -> None:
    TaskLaunch.objects.filter(task_id=task_id).update(runtime=seconds)


def was_revoked_from_dashboard(task_id: str) -> bool:
    return TaskAction.objects.filter(task_id=task_id, kind__in=["revoke", "terminate", "purge", "cancel"]).exists()


def terminate_reason(task_id: str) -> str | None:
    """The stored reason of a task terminated from the dashboard ("terminated by tess with SIGUSR1"),
    else None. Written by the task itself when SIGUSR1 lets it stop on its own, and by the worker's
    main process right after Celery's bare "terminated" (dashboard/live/signals.py)."""
    action = TaskAction.objects.filter(task_id=task_id, kind="terminate").select_related("user").first()
    if action is None:
        return None
    who = action.user.get_username() if action.user else stored_text("reason.deleted_user")
    if action.note:
        who = stored_text("reason.user_with_signal", user=who, signal=action.note.removeprefix("signal "))
    return stored_text("reason.terminated_by", user=who)


def _when(value) -> datetime | None:
    """A header's date (ISO text in Celery's protocol 2, a datetime from some callers), or None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt_timezone.utc)


def _count(value) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0


def _jsonable(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


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
        status=states.FAILURE, result=result, traceback=shown_in_default_language(reason)
    )
    return load_view(task_id) if updated else None
