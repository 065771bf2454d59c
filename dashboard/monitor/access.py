"""Who may see what. One helper per object, shared by pages and websocket consumers."""

from __future__ import annotations

from django.http import Http404

from dashboard.live.state import TaskView
from dashboard.live.store import launched_by_id, load_view
from site_config.machinery.staff import is_active_staff


def ensure_task_visible(user, task_id: str) -> None:
    """Raise 404 unless `user` may see the task: staff see every task, a member only the ones they
    launched. A 404, not a 403, so a member cannot even learn that a task id exists."""
    if not (user and user.is_authenticated and user.is_active):
        raise Http404("No such task.")
    if not is_active_staff(user) and launched_by_id(task_id) != user.pk:
        raise Http404("No such task.")


def get_task_for_user(user, task_id: str) -> TaskView:
    """The task's view if `user` may see it (see ensure_task_visible)."""
    ensure_task_visible(user, task_id)
    view = load_view(task_id)
    if view is None:
        raise Http404("No such task.")
    return view
