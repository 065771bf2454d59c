"""The workers page (/dashboard/workers/): staff only. Its live part is pushed by WorkersConsumer.
A queue's purge: a confirmation page naming the count, then the purge (dashboard.workers.queues)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize

from dashboard.models import QueuePurge
from dashboard.permissions import NEEDS, PURGE_QUEUE, may, require
from dashboard.rendering import render_page
from dashboard.workers.queues import QueueNotFound, queue_length, queue_names, queue_purge
from dashboard.workers.services import workers_context, workers_snapshot

PURGES_SHOWN = 10


@staff_member_required
def workers_page(request):
    context = workers_context(workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL))
    context["purges"] = QueuePurge.objects.select_related("user")[:PURGES_SHOWN]
    return render_page(request, "dashboard/workers/workers.html", context, partial="workers-live")


@staff_member_required
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
            messages.success(request, f"Purged {purge.purged_count} message{pluralize(purge.purged_count)} from queue "
                                      f"{name}; their tasks are marked revoked.")
        return redirect("dashboard:workers")
    context = {"queue": name, "length": queue_length(name), "allowed": allowed, "needs": NEEDS[PURGE_QUEUE]}
    return render(request, "dashboard/workers/purge_confirm.html", context)
