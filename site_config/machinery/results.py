"""The result backend: django-celery-results' database backend, with a light progress write and
retries when the database drops.

Progress. A task reports progress up to five times a second; django-celery-results would store each
report as a get-or-create plus a save of the whole row, which also moves `date_done`. `date_done` and
`status` are indexed (by django-celery-results and by the task list's composite indexes), so every
such save touches every index of the table: write-ahead log, bloat. Here a PROGRESS report is one
`UPDATE ... SET result, status WHERE task_id = ... AND status IN (running states)`: no read first,
only the columns that change, and no indexed value changes after the first report, so PostgreSQL can
update the row in place (a HOT update; the table's lower fillfactor leaves room on the page). The
condition also means a late report never overwrites an outcome the dashboard already stored (a
cancel or a lost-task verdict). When no running row exists yet (a task run outside the worker's
normal start), the report falls back to django-celery-results' full store.

Revocations. Terminating a running task writes REVOKED twice, in no fixed order: the worker's main
process stores Celery's bare reason ("terminated") as soon as it has sent the signal, and the task
itself, stopped by SIGUSR1, stores who terminated it ("terminated by tess"; dashboard/live/base_task.py).
A bare reason from Celery never replaces a reason already stored, so the page says who, whichever
write lands last.

Retries. A worker whose database connection breaks (a restart, a failover, a network blip) would
otherwise fail to store a task's progress or its outcome, and the task's row would keep saying
"running". django-celery-results retries only InterfaceError; a refused or reset connection is an
OperationalError. Both are retried here (with Celery's result_backend_always_retry back-off,
settings CELERY_RESULT_BACKEND_*), each time on a fresh connection. Storing a state is an upsert of
the task's row, so doing it again is safe. When the database stays away past the last retry, the
task fails with the reason ("failed to store result on the backend"), and nothing is marked done.
"""

from __future__ import annotations

from celery import states
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend as _DatabaseBackend

PROGRESS = "PROGRESS"
# The states a progress report may follow: anything else is an outcome it must not overwrite.
RUNNING_STATES = (states.PENDING, states.RECEIVED, states.STARTED, PROGRESS)
# The reasons a worker's main process gives when it marks a task revoked (celery/worker/request.py).
CELERY_REVOKED_REASONS = frozenset({"terminated", "revoked", "expired"})


class DatabaseBackend(_DatabaseBackend):
    def exception_safe_to_retry(self, exc) -> bool:
        if isinstance(exc, (InterfaceError, OperationalError)):
            connection.close()
            return True
        return super().exception_safe_to_retry(exc)

    def _store_result(self, task_id, result, status, traceback=None, request=None, using=None):
        if status == PROGRESS:
            _, _, encoded = self.encode_content(result)
            manager = self.TaskModel._default_manager
            rows = manager.db_manager(using).filter(task_id=task_id, status__in=RUNNING_STATES)
            if rows.update(result=encoded, status=PROGRESS):
                return result
            if manager.db_manager(using).filter(task_id=task_id).exists():
                return result  # the row holds an outcome already: it wins over a late report
        elif status == states.REVOKED and _reason(result) in CELERY_REVOKED_REASONS:
            # One conditional UPDATE, not a read and then a write: the task's own write (who) may be
            # landing in the same millisecond, and the database orders the two.
            _, _, encoded = self.encode_content(result)
            manager = self.TaskModel._default_manager
            rows = manager.db_manager(using).filter(task_id=task_id).exclude(
                status=states.REVOKED, result__contains='"exc_message"')
            if rows.update(status=states.REVOKED, result=encoded, traceback=traceback, date_done=timezone.now()):
                return result
            if manager.db_manager(using).filter(task_id=task_id).exists():
                return result  # a reason is stored already (who terminated it): the bare one adds nothing
        return super()._store_result(task_id, result, status, traceback=traceback, request=request, using=using)


def _reason(result) -> str | None:
    """The reason of a revocation as the backend encodes it ({"exc_message": ["terminated"], ...})."""
    message = result.get("exc_message") if isinstance(result, dict) else None
    if isinstance(message, (list, tuple)) and len(message) == 1 and isinstance(message[0], str):
        return message[0]
    return None
