"""The workers page (/dashboard/workers/): staff only. Its live part is pushed by the workers poller
(dashboard/workers/routing.py); the controls and the run-a-task form are per person, outside it.
A queue's purge: a confirmation page naming the count, then the purge (dashboard.workers.queues).

Every control is a form that works as a plain POST: the first POST shows a confirmation page that
says what will happen, the second (confirm=yes) sends the command and records it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from kombu.exceptions import OperationalError

from dashboard.models import ControlAction, QueuePurge
from dashboard.permissions import PURGE_QUEUE, RUN_TASK, may, needs, require
from dashboard.rendering import render_page
from dashboard.workers.control import COMMANDS, command_send, reply_summary
from dashboard.workers.forms import RunTaskForm, WorkerControlForm
from dashboard.workers.launch import task_run, task_signatures
from dashboard.workers.queues import QueueNotFound, queue_length, queue_names, queue_purge
from dashboard.workers.services import workers_context, workers_snapshot
from site_config.machinery.staff import staff_required

PURGES_SHOWN = 10
RECENT_ACTIONS = 15


def _snapshot() -> dict:
    return workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL)


@staff_required
def workers_page(request):
    snapshot = _snapshot()
    context = workers_context(snapshot)
    context["purges"] = QueuePurge.objects.select_related("user")[:PURGES_SHOWN]
    if not request.htmx:
        context.update(_controls_context(request.user, snapshot))
    return render_page(request, "dashboard/workers/workers.html", context, partial="workers-live")


def _controls_context(user, snapshot: dict) -> dict:
    controls = []
    for kind, command in COMMANDS.items():
        allowed = may(user, command.permission)
        controls.append({
            "command": command,
            "allowed": allowed,
            "needs": needs(command.permission),
            "form": WorkerControlForm(kind=kind, workers=snapshot["workers"], auto_id=f"id_{kind}_%s") if allowed else None,
        })
    recent = [(action, reply_summary(action))
              for action in ControlAction.objects.select_related("user")[:RECENT_ACTIONS]]
    return {"controls": controls, "recent_actions": recent, "can_run_task": may(user, RUN_TASK),
            "run_task_needs": needs(RUN_TASK)}


@staff_required
def worker_control(request, kind: str):
    """GET: the command's form. POST: the confirmation page; POST with confirm=yes: send and record."""
    command = COMMANDS.get(kind)
    if command is None:
        raise Http404("No such command.")
    require(request.user, command.permission)
    snapshot = _snapshot()
    form = WorkerControlForm(request.POST if request.method == "POST" else None, kind=kind,
                             workers=snapshot["workers"])
    context = {"command": command, "form": form}
    if request.method != "POST":
        return render(request, "dashboard/workers/control.html", context)
    if not form.is_valid():
        return render(request, "dashboard/workers/control.html", context, status=400)
    if request.POST.get("confirm") != "yes":
        hidden = [(name, value) for name in request.POST if name not in ("csrfmiddlewaretoken", "confirm")
                  for value in request.POST.getlist(name)]
        return render(request, "dashboard/workers/control.html", {
            **context, "confirming": True, "arguments": form.arguments(), "hidden": hidden})
    try:
        action = command_send(user=request.user, kind=kind, destination=form.cleaned_data["workers"],
                              arguments=form.arguments())
    except OperationalError:
        messages.error(request, gettext("The broker (Redis) cannot be reached; nothing was sent."))
        return redirect("dashboard:workers")
    for hostname, ok, text in reply_summary(action):
        (messages.success if ok else messages.error)(request, f"{command.label} — {hostname}: {text}")
    return redirect("dashboard:workers")


@staff_required
def run_task(request):
    """Pick a registered task, give it JSON arguments, a queue and an optional ETA or countdown."""
    require(request.user, RUN_TASK)
    form = RunTaskForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            task_id = task_run(user=request.user, name=data["task"], args=data["args"], kwargs=data["kwargs"],
                               queue=data["queue"], eta=data["eta"], countdown=data["countdown"])
        except OperationalError:
            messages.error(request, gettext("The broker (Redis) cannot be reached; the task was not queued."))
        else:
            messages.success(request, gettext("%(name)s queued.") % {"name": data["task"]})
            return redirect("dashboard:task_detail", task_id=task_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "dashboard/workers/run.html", {"form": form, "signatures": task_signatures()},
                  status=status)


@staff_required
def queue_purge_view(request, name: str):
    """GET: how many messages wait in the queue and what purging does, with the button for staff who
    may purge. POST: purge, record it, and go back to the workers page saying how many went."""
    if name not in queue_names():
        raise Http404(f"No queue {name!r} on this broker.")
    allowed = may(request.user, PURGE_QUEUE)
    if request.method == "POST":
        require(request.user, PURGE_QUEUE)
        try:
            confirmed = int(request.POST.get("confirmed_count", ""))
        except ValueError:
            confirmed = None
        try:
            purge = queue_purge(name=name, user=request.user, confirmed_count=confirmed)
        except QueueNotFound as error:
            messages.error(request, str(error))
        else:
            messages.success(request, ngettext(
                "Purged %(count)d message from queue %(queue)s; their tasks are marked revoked.",
                "Purged %(count)d messages from queue %(queue)s; their tasks are marked revoked.", purge.purged_count,
            ) % {"count": purge.purged_count, "queue": name})
        return redirect("dashboard:workers")
    context = {"queue": name, "length": queue_length(name), "allowed": allowed, "needs": needs(PURGE_QUEUE)}
    return render(request, "dashboard/workers/purge_confirm.html", context)
