"""The workers page (/dashboard/workers/): staff only. Its live part is pushed by WorkersConsumer."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required

from dashboard.rendering import render_page
from dashboard.workers.services import workers_context, workers_snapshot


@staff_member_required
def workers_page(request):
    context = workers_context(workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL))
    return render_page(request, "dashboard/workers/workers.html", context, partial="workers-live")
