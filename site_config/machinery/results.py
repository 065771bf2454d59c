"""The result backend: django-celery-results' database backend, retrying when the database drops.

A worker whose database connection breaks (a restart, a failover, a network blip) would otherwise
fail to store a task's progress or its outcome, and the task's row would keep saying "running".
django-celery-results retries only InterfaceError; a refused or reset connection is an
OperationalError. Both are retried here (with Celery's result_backend_always_retry back-off,
settings CELERY_RESULT_BACKEND_*), each time on a fresh connection. Storing a state is an upsert of
the task's row, so doing it again is safe. When the database stays away past the last retry, the
task fails with the reason ("failed to store result on the backend"), and nothing is marked done.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection
from django_celery_results.backends.database import DatabaseBackend as _DatabaseBackend


class DatabaseBackend(_DatabaseBackend):
    def exception_safe_to_retry(self, exc) -> bool:
        if isinstance(exc, (InterfaceError, OperationalError)):
            connection.close()
            return True
        return super().exception_safe_to_retry(exc)
