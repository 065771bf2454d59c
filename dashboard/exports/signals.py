"""Celery signals that keep each worker's scratch folder empty between jobs (dashboard/exports/scratch.py).

At start-up the worker removes what a killed predecessor of the same name left; after each task its
process removes that task's file, should the task have been stopped before its own clean-up ran.
"""

from __future__ import annotations

import logging

from celery.signals import task_postrun, worker_ready

from dashboard.exports.scratch import scratch_clear, scratch_discard

logger = logging.getLogger(__name__)


@worker_ready.connect(dispatch_uid="dashboard.exports.scratch_clear")
def _clear_at_start(sender=None, **kwargs) -> None:
    node = getattr(sender, "hostname", "") or ""
    removed = scratch_clear(node=node)
    if removed:
        logger.info("removed %d scratch file(s) left in %s's folder", removed, node)


@task_postrun.connect(dispatch_uid="dashboard.exports.scratch_discard")
def _discard_after_job(sender=None, task_id=None, **kwargs) -> None:
    node = getattr(getattr(sender, "request", None), "hostname", None)
    if node and task_id and scratch_discard(node=node, task_id=task_id):
        logger.info("removed the scratch file of task %s", task_id)
