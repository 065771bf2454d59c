"""Logging filters: every record stamped with the current Celery task's id and name, and the
one-time keys in request paths redacted.

Lines emitted outside a task (web requests, the worker's own bookkeeping) get "-" for both, so
one format string serves the web process and the worker alike. Django's own request lines ("Bad
Request: /accounts/verify/<key>/") name the path: its key is written as [redacted], as the access
log does (site_config/machinery/client_address.py).
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


class RedactKeysFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from site_config.machinery.client_address import redact_path

        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                                for arg in record.args)
        return True
