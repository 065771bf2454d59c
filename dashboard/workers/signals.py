"""Remember the queues this site sends tasks to (AMQP cannot list its queues; the workers page
reads the length of each one it knows). Connected in dashboard/apps.py, so every process that
sends tasks (web, worker, beat) records them."""

from __future__ import annotations

from celery.signals import after_task_publish

from dashboard.workers.queues import queue_remember


@after_task_publish.connect(dispatch_uid="dashboard.workers.remember_queue")
def _remember_queue(sender=None, routing_key=None, **kwargs) -> None:
    # This site's queues are bound with their own name as routing key (settings.CELERY_TASK_QUEUES,
    # and Celery's queues created by name); Celery's own (remote control, events) never pass here.
    if routing_key:
        queue_remember(routing_key)
