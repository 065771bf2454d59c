"""Running any of the project's registered tasks from the dashboard, with arguments (audited).

Celery's own tasks (`celery.*`) are never offered: they are plumbing (chord unlock, backend
clean-up) and run only as part of something else. The arguments are checked against the task's
signature before anything is sent, so a typo is a field error on the form, not a failed task.
"""

from __future__ import annotations

import inspect
from datetime import datetime

from django.conf import settings

from dashboard.models import ControlAction
from site_config.celery import app


def project_task_names() -> list[str]:
    """The project's registered task names, sorted (the same list tests/test_structure.py pins)."""
    app.loader.import_default_modules()  # autodiscovery: every app's tasks.py is imported
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def task_signatures() -> list[tuple[str, str]]:
    """(name, "(steps, delay_ms, ...)") for each project task, shown beside the run form."""
    return [(name, str(inspect.signature(app.tasks[name].run))) for name in project_task_names()]


def queue_names() -> list[str]:
    """The queues declared in settings, which a worker started without -Q consumes."""
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def task_signature_check(*, name: str, args: list, kwargs: dict) -> None:
    """Raise TypeError (its message says what is wrong) unless the task accepts these arguments."""
    task = app.tasks[name]
    inspect.signature(task.run).bind(*args, **kwargs)


def task_run(*, user, name: str, args: list, kwargs: dict, queue: str = "", eta: datetime | None = None,
             countdown: float | None = None) -> str:
    """Queue the task as `user` (TaskLaunch records them, as delay_for does); return its id.

    The audit row is written first, so a send that fails (broker down) is still on record, and the
    task's own row says why it failed.
    """
    from celery import uuid

    task = app.tasks[name]
    task_id = uuid()
    options = {"queue": queue} if queue else {}
    if eta is not None:
        options["eta"] = eta
    elif countdown is not None:
        options["countdown"] = countdown
    ControlAction.objects.create(
        kind=ControlAction.Kind.RUN_TASK, user=user,
        arguments={"task": name, "args": args, "kwargs": kwargs, "queue": queue,
                   "eta": eta.isoformat() if eta else None, "countdown": countdown},
        replies={"task_id": task_id},
    )
    task.apply_async_for(user, args, kwargs, task_id=task_id, **options)
    return task_id
