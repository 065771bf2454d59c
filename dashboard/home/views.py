"""Dashboard home and the demo job. Task pages are in dashboard.monitor.views.

Starting the demo job needs the permission dashboard.start_demo_job; other staff see the home page
without the form."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from dashboard.home.forms import DemoJobForm
from dashboard.permissions import START_DEMO_JOB, may, needs, require
from dashboard.tasks import demo_job_task
from site_config.machinery.staff import staff_required


@staff_required
def home(request):
    from dashboard.home.charts import charts_context

    return render(request, "dashboard/home/home.html", {"form": DemoJobForm(), "charts": charts_context(),
                                                         **_start_context(request)})


def _start_context(request) -> dict:
    return {"can_start": may(request.user, START_DEMO_JOB), "start_needs": needs(START_DEMO_JOB)}


@staff_required
@require_POST
def demo_job_start(request):
    require(request.user, START_DEMO_JOB)
    form = DemoJobForm(request.POST)
    if not form.is_valid():
        return render(request, "dashboard/home/home.html", {"form": form, **_start_context(request)}, status=400)
    data = form.cleaned_data
    try:
        task_id = demo_job_task.delay_for_on_commit(request.user, data["steps"], data["delay_ms"], data["fail_at_step"])
    except OperationalError:
        messages.error(request, gettext("The task queue (Redis) cannot be reached, so the job was not started. "
                                        "It is recorded as failed in the task list; try again once Redis is back."))
        return render(request, "dashboard/home/home.html", {"form": form, **_start_context(request)}, status=503)
    messages.success(request, gettext("Demo job queued."))
    return redirect("dashboard:task_detail", task_id=task_id)
