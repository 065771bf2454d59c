"""The cancel flag: how a request to cancel a running task reaches the worker running it.

The dashboard (dashboard.jobs.services.task_cancel) sets a short-lived key in Redis naming who
cancelled; LiveTask.report_progress reads it only when a report actually goes out (its throttled
branch), and raises TaskCancelled there. A task that never reports progress cannot be cancelled
this way (terminate is the staff's tool for that). While Redis is down the flag cannot be set or
read (the cache degrades to no cache): the task then simply runs on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _key(task_id: str) -> str:
    return f"cancel:{task_id}"


def cancel_request(task_id: str, *, who: str) -> None:
    cache.set(_key(task_id), who, settings.TASK_CANCEL_FLAG_SECONDS)


def cancel_requested_by(task_id: str) -> str | None:
    """Who asked to cancel the task, or None."""
    return cache.get(_key(task_id))


def cancel_forget(task_id: str) -> None:
    cache.delete(_key(task_id))
