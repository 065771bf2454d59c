"""Acting on tasks from the dashboard: retry, revoke, terminate (one or many), always audited.

Views call these after checking the `dashboard.act_on_tasks` permission; every call writes one
TaskAction row per task (sharing a batch id), which the task page shows.
"""

from __future__ import annotations

import uuid

from celery import current_app, states
from celery import uuid as celery_uuid
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_results.models import TaskResult

from dashboard.live.publish import publish_view
from dashboard.live.store import load_view, record_event
from dashboard.models import TaskAction, TaskLaunch
from site_config.machinery.stored_texts import stored_text

RETRYABLE_STATES = (states.FAILURE, states.REVOKED)
REVOCABLE_STATES = (states.PENDING, states.RECEIVED, states.RETRY)
RUNNING_STATES = (states.STARTED, "PROGRESS")
#: The signals terminate may send to the pool process running a task, with what each means there.
TERMINATE_SIGNALS = {
    "SIGTERM": _("SIGTERM (default): the worker's own stop signal (SIGQUIT for a worker started from the Procfile, "
                 "whose pool ignores SIGTERM); it ends at once unless the task catches it"),
    "SIGINT": _("SIGINT: as a Ctrl-C; Python raises KeyboardInterrupt inside the task"),
    "SIGUSR1": _("SIGUSR1: Celery raises SoftTimeLimitExceeded inside the task, which may clean up and stop"),
    "SIGQUIT": _("SIGQUIT: stop at once"),
    "SIGKILL": _("SIGKILL: killed at once; nothing in the task runs again, no clean-up"),
}
DEFAULT_TERMINATE_SIGNAL = "SIGTERM"


class TaskActionRefused(Exception):
    """The action cannot be done to this task; the message says why, for the person who asked."""


def task_retry(*, user, task_id: str, batch: uuid.UUID | None = None, why: str = "") -> str:
    """Send the same task with the same arguments as a new task linked to the original.

    A task is retried once: a double click, two operators or a repeated bulk retry get a refusal
    naming the retry that exists (retry that one if it failed too). The claim is the TaskAction row,
    written under a lock on the original's row before anything is sent.

    `user` None is the site itself (a lost task sent again, `why` says why): the new task keeps the
    original's launcher.
    """
    with transaction.atomic():
        row = TaskResult.objects.select_for_update().filter(task_id=task_id).first()
        if row is None:
            raise TaskActionRefused(gettext("No such task."))
        if row.status not in RETRYABLE_STATES:
            raise TaskActionRefused(gettext("Only failed or revoked tasks can be retried; this one is %(state)s.")
                                    % {"state": row.status.lower()})
        previous = TaskAction.objects.filter(task_id=task_id, kind=TaskAction.Kind.RETRY).first()
        if previous is not None:
            raise TaskActionRefused(
                gettext("Already retried as %(task_id)s by %(user)s; retry that one if it failed too.") % {
                    "task_id": previous.new_task_id,
                    "user": previous.user.get_username() if previous.user else gettext("a deleted user")}
            )
        task = current_app.tasks.get(row.task_name or "")
        if task is None:
            raise TaskActionRefused(gettext("The task %(name)r is not known to this site any more.") % {"name": row.task_name})
        if not getattr(task, "retryable", True):
            raise TaskActionRefused(gettext("%(name)s declares itself not safe to run again, so it cannot be retried.")
                                    % {"name": row.task_name})
        launch = TaskLaunch.objects.filter(task_id=task_id).first()
        if launch is None or launch.args is None:
            raise TaskActionRefused(gettext("The original arguments were not recorded, so the task cannot be sent again."))
        new_id = celery_uuid()
        TaskAction.objects.create(batch=batch or uuid.uuid4(), kind=TaskAction.Kind.RETRY, task_id=task_id,
                                  new_task_id=new_id, user=user, note=stored_text("reason.sent_again", why=why) if why else "")
        record_event(task_id, "retried", stored_text("event.retried_as", task_id=new_id, user=user.get_username()) if user
                     else stored_text("event.retried_automatically", task_id=new_id, why=why))
    # Sent after the claim is committed. If the broker is down, the new task's row says so (FAILURE
    # with the reason) and can itself be retried.
    task.apply_async(launch.args, launch.kwargs or {}, task_id=new_id, queue=launch.queue or None,
                     headers={"launched_by": user.pk if user else launch.launched_by_id, "retry_of": task_id})
    return new_id


def task_revoke(*, user, task_id: str, terminate: bool = False, batch: uuid.UUID | None = None,
                signal: str = DEFAULT_TERMINATE_SIGNAL) -> None:
    """Revoke a queued task (it will never run) or terminate a running one with `signal` (one of
    TERMINATE_SIGNALS; anything else is refused before any change).

    The row shows REVOKED at once, before any worker confirms; LiveTask.before_start refuses to run
    a task revoked here even if the worker never heard the broadcast.
    """
    if signal not in TERMINATE_SIGNALS:
        raise TaskActionRefused(gettext("%(signal)r is not a signal terminate may send.") % {"signal": signal})
    allowed = RUNNING_STATES if terminate else REVOCABLE_STATES
    with transaction.atomic():
        updated = TaskResult.objects.filter(task_id=task_id, status__in=allowed).update(status=states.REVOKED)
        if not updated:
            row = TaskResult.objects.filter(task_id=task_id).first()
            if row is None:
                raise TaskActionRefused(gettext("No such task."))
            if terminate:
                refusal = gettext("This task cannot be terminated: it is not running (it is %(state)s).")
            else:
                refusal = gettext("This task cannot be revoked: it is no longer queued (it is %(state)s).")
            raise TaskActionRefused(refusal % {"state": row.status.lower()})
        kind = TaskAction.Kind.TERMINATE if terminate else TaskAction.Kind.REVOKE
        note = f"signal {signal}" if terminate else ""
        TaskAction.objects.create(batch=batch or uuid.uuid4(), kind=kind, task_id=task_id, user=user, note=note)
        record_event(task_id, kind, stored_text("event.by_with_signal", user=user.get_username(), signal=signal)
                     if terminate else stored_text("event.by", user=user.get_username()))
    # SIGTERM is sent as "the worker's own terminate signal" (None): a worker started with
    # REMAP_SIGTERM=SIGQUIT (the Procfile's) has pool processes that ignore SIGTERM, and terminates
    # with SIGQUIT instead; any other worker uses SIGTERM.
    current_app.control.revoke(task_id, terminate=terminate, signal=None if signal == "SIGTERM" else signal)
    view = load_view(task_id)
    if view is not None:
        publish_view(view)


def tasks_act_in_bulk(*, user, action: str, task_ids: list[str], signal: str = DEFAULT_TERMINATE_SIGNAL) -> dict:
    """Retry, revoke or terminate (with `signal`) many tasks; returns {"done": [...], "refused": {task_id: reason}}."""
    batch = uuid.uuid4()
    done, refused = [], {}
    for task_id in task_ids:
        try:
            if action == "retry":
                task_retry(user=user, task_id=task_id, batch=batch)
            elif action == "revoke":
                task_revoke(user=user, task_id=task_id, batch=batch)
            elif action == "terminate":
                task_revoke(user=user, task_id=task_id, batch=batch, terminate=True, signal=signal)
            else:
                raise TaskActionRefused(gettext("Unknown action %(action)r.") % {"action": action})
            done.append(task_id)
        except TaskActionRefused as refusal:
            refused[task_id] = str(refusal)
    return {"done": done, "refused": refused, "batch": batch}
