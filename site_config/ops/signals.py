"""Celery signal handlers that feed the metrics (site_config.ops.metrics): tasks queued, started and
finished. They run in whichever process the event happens in: queued in the process that sends the
task (web, worker or beat), started and finished in the worker's child process. Importing this
module also connects the worker heartbeat (site_config.ops.liveness), the one source of liveness.
"""

from __future__ import annotations

from celery.signals import (
    after_task_publish,
    task_postrun,
    task_prerun,
    task_revoked,
    worker_process_shutdown,
    worker_shutdown,
)

from site_config.ops import liveness  # noqa: F401  (connects the worker heartbeat to worker_ready/shutdown)
from site_config.ops.metrics import TASKS_FINISHED, TASKS_QUEUED, TASKS_STARTED, recorder


def _task_name(task) -> str:
    return getattr(task, "name", None) or str(task or "unknown")


@after_task_publish.connect
def _queued(sender=None, routing_key=None, headers=None, **kwargs) -> None:
    name = (headers or {}).get("task") or sender or "unknown"
    TASKS_QUEUED.inc(name, routing_key or "")


@task_prerun.connect
def _started(sender=None, **kwargs) -> None:
    TASKS_STARTED.inc(_task_name(sender))


@task_postrun.connect
def _finished(sender=None, state=None, **kwargs) -> None:
    TASKS_FINISHED.inc(_task_name(sender), (state or "unknown").lower())


@task_revoked.connect
def _revoked(sender=None, request=None, terminated=None, expired=None, **kwargs) -> None:
    # Revoked before it ran, expired, or terminated: no task_postrun follows.
    TASKS_FINISHED.inc(_task_name(sender), "expired" if expired else "revoked")


@worker_shutdown.connect
def _worker_shutdown(sender=None, **kwargs) -> None:
    recorder.flush()


@worker_process_shutdown.connect
def _child_shutdown(**kwargs) -> None:
    recorder.flush()  # prefork children leave with os._exit: atexit never runs there
