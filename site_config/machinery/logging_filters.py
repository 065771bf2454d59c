"""What every log line carries: the Celery task's id and name, and the web request's id; the
one-time keys in request paths redacted; and the JSON lines formatter (DJANGO_LOG_FORMAT=json).

Lines emitted outside a task (web requests, the worker's own bookkeeping) get "-" for the task,
lines outside any request or task it queued "-" for the request, so one format string serves the
web process and the worker alike. Django's own request lines ("Bad Request: /accounts/verify/<key>/")
name the path: its key is written as [redacted], as the access log does
(site_config/machinery/client_address.py).
"""

import json
import logging
from datetime import UTC, datetime

from celery._state import get_current_task

from site_config.machinery.request_context import current_request_id


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
        record.request_id = current_request_id.get() or "-"
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, process, task and request ids,
    message, and the traceback when there is one. Fields without a value are null."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "process_name": record.processName,
            "task_id": _value(getattr(record, "task_id", None)),
            "task_name": _value(getattr(record, "task_name", None)),
            "request_id": _value(getattr(record, "request_id", None)),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _value(value):
    return None if value in (None, "-") else value


class RedactKeysFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from site_config.machinery.client_address import redact_path

        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                                for arg in record.args)
        return True
