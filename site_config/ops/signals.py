"""Celery signal handlers that feed the metrics (site_config.ops.metrics): tasks queued, started and finished,
and each worker's heartbeat. They run in whichever process the event happens in: queued in the
process that sends the task (web, worker or beat), started and finished in the worker's child
process, heartbeats in the worker's main process.
"""

from __future__ import annotations

from celery.signals import (
    after_task_publish,
    heartbeat_sent,
    task_postrun,
    task_prerun,
    task_revoked,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from site_config.ops.metrics import TASKS_FINISHED, TASKS_QUEUED, TASKS_STARTED, recorder, worker_gone, worker_heartbeat


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


@worker_ready.connect
def _worker_ready(sender=None, **kwargs) -> None:
    worker_heartbeat(sender.hostname)


# Celery's own heartbeat (every 2 s), so a worker whose event loop is stuck stops counting as online.
@heartbeat_sent.connect
def _heartbeat(sender=None, **kwargs) -> None:
    worker_heartbeat(sender.eventer.hostname)


@worker_shutdown.connect
def _worker_shutdown(sender=None, **kwargs) -> None:
    worker_gone(sender.hostname)
    recorder.flush()


@worker_process_shutdown.connect
def _child_shutdown(**kwargs) -> None:
    recorder.flush()  # prefork children leave with os._exit: atexit never runs there
