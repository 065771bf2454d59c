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
from django_celery_results.backends.database import DatabaseBackend as _DatabaseBackend

PROGRESS = "PROGRESS"
# The states a progress report may follow: anything else is an outcome it must not overwrite.
RUNNING_STATES = (states.PENDING, states.RECEIVED, states.STARTED, PROGRESS)


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
        return super()._store_result(task_id, result, status, traceback=traceback, request=request, using=using)

