"""Celery signal handlers that keep task rows and live pages in step.

- before_task_publish (in the process that queues a task): the PENDING row and who launched it
  exist before the message reaches the broker, and list pages are told about the new task. It runs
  before publishing so a fast worker's "started" can never be overtaken by our "queued".
- task_received (worker main process): the "received" step of the timeline.
- task_revoked (in the worker): tell watchers at once.
Started, progress, retry, success and failure are published by LiveTask itself (base_task.py).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from celery import states
from celery.signals import before_task_publish, task_received, task_revoked

from dashboard.live.publish import publish_view
from dashboard.live.publisher import publisher
from dashboard.live.store import load_view, record_event, record_queued, terminate_reason
from site_config.machinery.stored_texts import stored_text

logger = logging.getLogger(__name__)


@before_task_publish.connect
def _task_queued(sender=None, headers=None, body=None, routing_key=None, **kwargs) -> None:
    headers = headers or {}
    task_id = headers.get("id")
    if not task_id:
        return
    args, task_kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else (None, None)
    try:
        view = _run_sync(
            record_queued,
            task_id=task_id,
            task_name=headers.get("task") or sender or "",
            argsrepr=headers.get("argsrepr"),
            kwargsrepr=headers.get("kwargsrepr"),
            periodic_task_name=headers.get("periodic_task_name"),
            launched_by=headers.get("launched_by"),
            queue=routing_key or "",
            args=args,
            kwargs=task_kwargs,
            parent_id=headers.get("parent_id"),
            root_id=headers.get("root_id"),
            group_id=headers.get("group"),
            retry_of=headers.get("retry_of"),
            eta=headers.get("eta"),
            expires=headers.get("expires"),
            retries=headers.get("retries") or 0,
        )
    except Exception:
        # The task is still sent: a missing PENDING row must not lose the work itself.
        logger.exception("could not record queued task %s", task_id)
        return
    if view is not None:
        publish_view(view, queued=True)
        publisher.flush(timeout=2.0)


@task_received.connect
def _task_received(request=None, **kwargs) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        try:
            record_event(task_id, "received", stored_text(
                "event.received_by", worker=getattr(request, "hostname", "") or stored_text("event.a_worker")))
        except Exception:  # the timeline is a nicety; never let it stop the worker consuming
            logger.warning("could not record received event for %s", task_id, exc_info=True)


@task_revoked.connect
def _task_revoked(sender=None, request=None, terminated=None, signum=None, expired=None, **kwargs) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        detail = stored_text("event.terminated" if terminated else ("event.expired" if expired else "event.revoked_before_run"))
        record_event(task_id, "revoked", detail)
        reason = terminate_reason(task_id) if terminated and sender is not None else None
        if reason is not None:
            # Celery has just stored its bare "terminated". Terminated from the dashboard, the reason
            # names who (as the task itself stores it when SIGUSR1 lets it stop on its own): else
            # this process's push, rendered now, could reach the page after the task's and leave it
            # saying only "terminated".
            sender.backend.mark_as_revoked(task_id, reason, request=request)
        view = load_view(task_id)
        if view is not None and view.state == states.REVOKED:
            publish_view(view)


_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-queued")


def _run_sync(function, **kwargs):
    """Run a database call; from async code (an async view queueing a task) in a thread, since the
    ORM refuses to run inside an event loop. The publish itself blocks the caller either way."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(**kwargs)
    return _executor.submit(function, **kwargs).result(timeout=30)
