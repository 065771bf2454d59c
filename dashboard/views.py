"""Dashboard pages. Staff-only unless said otherwise; access rules live in dashboard.access."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_celery_results.models import TaskResult
from kombu.exceptions import OperationalError

from dashboard.access import get_task_for_user
from dashboard.forms import DemoJobForm
from dashboard.live.state import TaskView
from dashboard.models import TaskLaunch
from dashboard.tasks import demo_job_task

TASKS_PER_PAGE = 25


@staff_member_required
def home(request):
    return render(request, "dashboard/home.html", {"form": DemoJobForm()})


def _task_views(rows) -> list[TaskView]:
    rows = list(rows)
    launches = TaskLaunch.objects.select_related("launched_by").filter(task_id__in=[r.task_id for r in rows])
    by_id = {launch.task_id: launch for launch in launches}
    return [TaskView.from_row(row, by_id.get(row.task_id)) for row in rows]


def _recent_rows():
    return TaskResult.objects.order_by("-date_created", "-id")


def render_task_rows_snapshot() -> str:
    """The first page of the task list as the rows partial (websocket snapshot)."""
    views = _task_views(_recent_rows()[:TASKS_PER_PAGE])
    return render_to_string("dashboard/task_list.html#rows-message", {"tasks": views})


@staff_member_required
@vary_on_headers("HX-Request")
def task_list(request):
    page = Paginator(_recent_rows(), TASKS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "tasks": _task_views(page.object_list), "live": page.number == 1}
    template = "dashboard/task_list.html#task-table" if request.htmx else "dashboard/task_list.html"
    return render(request, template, context)


@login_required
def task_detail(request, task_id: str):
    """Staff see any task; a member only the tasks they launched (404 otherwise)."""
    view = get_task_for_user(request.user, task_id)
    return render(request, "dashboard/task_detail.html", {"task": view, "show_traceback": request.user.is_staff})


@staff_member_required
@require_POST
def demo_job_start(request):
    form = DemoJobForm(request.POST)
    if not form.is_valid():
        return render(request, "dashboard/home.html", {"form": form}, status=400)
    data = form.cleaned_data
    try:
        task_id = demo_job_task.delay_for_on_commit(request.user, data["steps"], data["delay_ms"], data["fail_at_step"])
    except OperationalError:
        messages.error(request, "The task queue (Redis) cannot be reached, so the job was not started. "
                                "It is recorded as failed in the task list; try again once Redis is back.")
        return render(request, "dashboard/home.html", {"form": form}, status=503)
    messages.success(request, "Demo job queued.")
    return redirect("dashboard:task_detail", task_id=task_id)
