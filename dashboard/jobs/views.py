"""Jobs people start: "My tasks" (every member's own jobs, live) and cancelling a job from its page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from dashboard.jobs.queries import my_task_views
from dashboard.jobs.services import CancelRefused, ensure_may_cancel, task_cancel
from dashboard.monitor.access import get_task_for_user


@login_required
def my_tasks(request):
    return render(request, "dashboard/jobs/my_tasks.html", {"tasks": my_task_views(request.user)})


@login_required
def task_cancel_view(request, task_id: str):
    """GET: what cancelling does, and a button. POST: cancel. 404 for a task the user may not see,
    403 for staff without the permission."""
    ensure_may_cancel(request.user, task_id)
    view = get_task_for_user(request.user, task_id)
    if request.method != "POST":
        return render(request, "dashboard/jobs/cancel_confirm.html", {"task": view})
    try:
        outcome = task_cancel(user=request.user, task_id=task_id)
    except CancelRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, gettext("Cancelled: it will not run.") if outcome == "revoked" else
                         gettext("Cancelling: the job stops at its next progress report."))
    return redirect("dashboard:task_detail", task_id=task_id)
