"""`publish_view`: the one function that tells every watcher of a task about its new state.

Whoever changes a task's state (the publish signal, the worker's base class, a revoke) calls this
with the task's view; it renders the fragments once (dashboard.live.fragments) and hands them to the
non-blocking publisher, keyed by task so that a newer state replaces an unsent older one.
"""

from __future__ import annotations

from dashboard.live.fragments import task_messages
from dashboard.live.publisher import publisher
from dashboard.live.state import TaskView


def publish_view(view: TaskView, *, queued: bool = False) -> None:
    for group, message in task_messages(view, queued=queued):
        publisher.publish(group, message, key=("task", view.task_id))
