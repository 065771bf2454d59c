"""Render the HTML fragments that task pages show and websockets push.

One source of truth: the pushed fragments are the same template partials that render the pages,
so a live update and a reload always look alike. Each update is rendered here, in the process that
produced it, once per language someone watches in (dashboard.live.publish), never once per watcher.
"""

from __future__ import annotations

from django.template.loader import render_to_string

from dashboard.live.contract import TASK_UPDATE, TASKS_GROUP, task_group, user_tasks_group
from dashboard.live.state import TaskView

DETAIL = "dashboard/monitor/detail.html"
LIST = "dashboard/monitor/list.html"


def render_status(view: TaskView) -> str:
    return render_to_string(f"{DETAIL}#status", {"task": view})


def render_outcome(view: TaskView, *, staff: bool, refresh_staff_panels: bool = False) -> str:
    """The result/error section; pushed at the end with `refresh_staff_panels`, which makes a staff
    page fetch its timeline and actions once more (they change when the task finishes)."""
    return render_to_string(f"{DETAIL}#outcome", {"task": view, "show_traceback": staff,
                                                  "refresh_staff_panels": refresh_staff_panels})


def render_row(view: TaskView, *, member_view: bool = False) -> str:
    """A task list row; `member_view`: for its launcher's "My tasks" (the title without the Python name)."""
    return render_to_string(f"{LIST}#row", {"task": view, "member_view": member_view})


def task_messages(view: TaskView, *, queued: bool = False) -> list[tuple[str, dict]]:
    """The (group, message) pairs that tell every watcher about `view`."""
    status = render_status(view)
    detail = {"type": TASK_UPDATE, "task_id": view.task_id, "final": view.is_final, "html": status}
    if view.is_final:
        detail["html"] = status + render_outcome(view, staff=False)
        detail["html_staff"] = status + render_outcome(view, staff=True, refresh_staff_panels=True)
    # List watchers decide per connection what a new task means for their filter (a "new tasks"
    # bar); rows already on their page are replaced in place by id.
    row = {
        "type": TASK_UPDATE,
        "task_id": view.task_id,
        "final": view.is_final,
        "new": queued,
        "html": render_row(view),
    }
    messages = [(task_group(view.task_id), detail), (TASKS_GROUP, row)]
    if view.launched_by_id:  # the row as its launcher's "My tasks" page shows it
        messages.append((user_tasks_group(view.launched_by_id), {**row, "html": render_row(view, member_view=True)}))
    return messages
