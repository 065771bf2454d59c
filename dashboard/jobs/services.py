"""Cancelling a job, and who may: the person who started it, or staff holding `dashboard.act_on_tasks`.

A queued task is revoked (it never runs: LiveTask.before_start refuses it); a running one gets the
cancel flag (dashboard.live.cancel), which its next progress report turns into TaskCancelled, so the
task cleans up after itself and ends REVOKED with "cancelled by <user>". Every cancel is audited as
a TaskAction row, like a revoke.
"""

from __future__ import annotations

import uuid

from celery import current_app, states
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext
from django_celery_results.models import TaskResult

from dashboard.live.cancel import cancel_request
from dashboard.live.publish import publish_view
from dashboard.live.store import launched_by_id, load_view, record_event
from dashboard.models import TaskAction
from dashboard.monitor.access import ensure_task_visible
from dashboard.permissions import ACT_ON_TASKS, may, needs
from site_config.machinery.stored_texts import stored_text

QUEUED_STATES = (states.PENDING, states.RECEIVED, states.RETRY)
RUNNING_STATES = (states.STARTED, "PROGRESS")


class CancelRefused(Exception):
    """The task cannot be cancelled now (it has finished, or was cancelled already); says why."""


def can_cancel(user, task_id: str) -> bool:
    """Whether `user` may cancel the task (its state aside): its launcher, or staff with the permission."""
    return bool(user and user.is_authenticated and user.is_active) and (
        launched_by_id(task_id) == user.pk or may(user, ACT_ON_TASKS))


def ensure_may_cancel(user, task_id: str) -> None:
    """404 when the user may not even see the task (another member's), 403 when they see it but may not
    cancel it (staff without the permission)."""
    ensure_task_visible(user, task_id)
    if not can_cancel(user, task_id):
        raise PermissionDenied(needs(ACT_ON_TASKS))


def task_cancel(*, user, task_id: str) -> str:
    """Cancel the task for `user` (checked by the caller: ensure_may_cancel). Returns "revoked" (it was
    queued) or "requested" (running: it stops at its next progress report)."""
    who = user.get_username()
    with transaction.atomic():
        # The conditional update is the claim: a worker starting it at this moment finds the
        # TaskAction row in before_start and does not run it.
        if TaskResult.objects.filter(task_id=task_id, status__in=QUEUED_STATES).update(status=states.REVOKED):
            row, outcome = None, "revoked"
        else:
            row = TaskResult.objects.filter(task_id=task_id).first()
            if row is None:
                raise CancelRefused(gettext("No such task."))
        if row is None:
            pass
        elif row.status in RUNNING_STATES:
            if TaskAction.objects.filter(task_id=task_id, kind=TaskAction.Kind.CANCEL).exists():
                raise CancelRefused(gettext("Already cancelled; it stops at its next progress report."))
            outcome = "requested"
        else:
            raise CancelRefused(gettext("This task has finished (%(state)s); there is nothing to cancel.")
                                % {"state": row.status.lower()})
        TaskAction.objects.create(batch=uuid.uuid4(), kind=TaskAction.Kind.CANCEL, task_id=task_id, user=user)
        if outcome == "revoked":
            record_event(task_id, "revoked", stored_text("reason.cancelled_before_start", user=who))
        else:
            record_event(task_id, "cancel", stored_text("event.cancel_requested", user=who))
    if outcome == "revoked":
        current_app.control.revoke(task_id)
        view = load_view(task_id)
        if view is not None:
            publish_view(view)
    else:
        cancel_request(task_id, who=who)
    return outcome
