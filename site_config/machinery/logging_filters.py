"""Logging filter that stamps every record with the current Celery task's id and name.

Lines emitted outside a task (web requests, the worker's own bookkeeping) get "-" for both, so
one format string serves the web process and the worker alike.
"""

import logging

from celery._state import get_current_task


class TaskContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            task = get_current_task()
            request = getattr(task, "request", None) if task else None
            task_id = getattr(request, "id", None) if request else None
        except Exception:  # e.g. during interpreter shutdown: a log line must never fail for this
            task, task_id = None, None
        record.task_id = task_id or "-"
        record.task_name = (task.name if task_id else None) or "-"
        return True
