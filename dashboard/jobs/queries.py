"""The rows of a member's "My tasks" page, shared by the page and its socket."""

from __future__ import annotations

from django.template.loader import render_to_string
from django_celery_results.models import TaskResult

from dashboard.live.state import TaskView
from dashboard.models import TaskLaunch
from dashboard.monitor.listing import task_views

MY_TASKS_SHOWN = 50
TEMPLATE = "dashboard/jobs/my_tasks.html"


def my_task_views(user, limit: int = MY_TASKS_SHOWN) -> list[TaskView]:
    """The latest tasks `user` launched, newest first (walks the launch_user_created index)."""
    task_ids = list(TaskLaunch.objects.filter(launched_by=user).order_by("-created_at", "-id")
                    .values_list("task_id", flat=True)[:limit])
    rows = {row.task_id: row for row in TaskResult.objects.filter(task_id__in=task_ids)}
    return task_views(rows[task_id] for task_id in task_ids if task_id in rows)


def render_my_rows(views: list[TaskView]) -> str:
    return render_to_string(f"{TEMPLATE}#rows", {"tasks": views})


def render_new_row(row_html: str) -> str:
    """A row the page does not show yet, put first in its table (htmx out-of-band, by the table's id)."""
    return f'<tbody hx-swap-oob="afterbegin:#my-task-rows">{row_html}</tbody>'
