"""The cancel flag: how a request to cancel a running task reaches the worker running it.

The dashboard (dashboard.jobs.services.task_cancel) sets a short-lived key naming who cancelled, in
the site's keys Redis (never the cache, which may evict or be flushed); LiveTask.report_progress
reads it only when a report actually goes out (its throttled branch), and raises TaskCancelled
there. A task that never reports progress cannot be cancelled this way (terminate is the staff's
tool for that). While that Redis is down the flag cannot be set or read: the task then simply runs
on.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from site_config.machinery.redis_roles import redis_client

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (redis.RedisError, OSError)


def _key(task_id: str) -> str:
    return f"site:cancel:{task_id}"


def cancel_request(task_id: str, *, who: str) -> None:
    try:
        redis_client("keys").set(_key(task_id), who, ex=settings.TASK_CANCEL_FLAG_SECONDS)
    except OUTAGE_ERRORS as error:
        logger.warning("cancel flag for %s not set: Redis unavailable (%s)", task_id, error)


def cancel_requested_by(task_id: str) -> str | None:
    """Who asked to cancel the task, or None."""
    try:
        who = redis_client("keys").get(_key(task_id))
    except OUTAGE_ERRORS:
        return None
    return who.decode() if who is not None else None


def cancel_forget(task_id: str) -> None:
    try:
        redis_client("keys").delete(_key(task_id))
    except OUTAGE_ERRORS:
        pass
