"""The workers page (/dashboard/workers/): staff only. Its live part is pushed by WorkersConsumer."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from dashboard.workers.services import workers_context, workers_snapshot


@staff_member_required
@vary_on_headers("HX-Request")
def workers_page(request):
    context = workers_context(workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL))
    template = "dashboard/workers/workers.html#workers-live" if request.htmx else "dashboard/workers/workers.html"
    return render(request, template, context)
