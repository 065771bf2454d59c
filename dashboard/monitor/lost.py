"""Tasks whose worker is gone or whose message the broker lost: found, marked failed with the
reason, and sent again when safe.

A task is lost when its row says it is running (STARTED or PROGRESS) and no live worker has claimed
it in its heartbeat (site_config/ops/liveness.py) for WORKER_LOST_AFTER_SECONDS. The wait is counted
in Redis from the first sweep that missed it, so a Redis restart (which forgets every heartbeat
until the workers write them again) starts the count afresh, and nothing is judged while Redis
cannot be read at all. The count is per run: a task started again (its message delivered once more
after its worker died, to a worker that has not claimed it in a heartbeat yet) is a new run, by its
row's start time, with a count of its own, and a run that started again meanwhile is never declared. Every time here is Redis's (TIME), never the sweeping host's clock: sweeps
run on any worker, and a host whose clock is ahead would otherwise judge a task that has just
started, and is not yet in a heartbeat, as unclaimed for long. With the defaults (heartbeat every 5 s
kept 15 s, a sweep every 10 s, 20 s of grace) a task is declared lost at most 55 s after its worker
died.

A lost task whose code declares it safe to run again (`acks_late`, and not `retryable = False`) is
sent again as a new task linked to the original, like a dashboard retry. If the broker later
delivers the original once more (its message was never acknowledged), LiveTask refuses to run it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import redis
from celery import current_app, states
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.live.publish import publish_view
from dashboard.live.store import load_view, record_event
from dashboard.models import TaskEvent
from site_config.machinery.redis_roles import redis_client as role_client
from site_config.machinery.stored_texts import shown_in_default_language, stored_text
from site_config.ops.liveness import redis_client, running_task_ids

logger = logging.getLogger(__name__)

RUNNING_STATES = (states.STARTED, "PROGRESS")
MISSING_PREFIX = "site:task-unclaimed-since:"
LOST_EVENT = "lost"


def was_declared_lost(task_id: str) -> bool:
    return TaskEvent.objects.filter(task_id=task_id, kind=LOST_EVENT).exists()


def redis_time(client: redis.Redis) -> float:
    """Redis's clock (TIME), the one clock every host that sweeps shares."""
    seconds, microseconds = client.time()
    return seconds + microseconds / 1_000_000


def tasks_lost_sweep(*, client: redis.Redis | None = None, now: float | None = None) -> list[str]:
    """Declare lost the running tasks no live worker has claimed for long enough; their ids."""
    lost_after = settings.WORKER_LOST_AFTER_SECONDS
    running = list(TaskResult.objects.filter(status__in=RUNNING_STATES).values_list("task_id", "worker", "date_started"))
    if not running:
        return []
    client = client or redis_client()
    try:
        now = redis_time(client) if now is None else now
        claimed = running_task_ids(client)
        overdue = []
        for task_id, worker, started in running:
            if task_id in claimed:
                continue
            run = f"{started.timestamp():.6f}" if started else "-"  # a run of the task: its start time
            key = f"{MISSING_PREFIX}{task_id}:{run}"
            client.set(key, now, nx=True, ex=int(lost_after * 3) + 60)
            since = float(client.get(key) or now)
            if now - since >= lost_after:
                overdue.append((task_id, worker, started, since))
    except (redis.RedisError, OSError) as error:
        logger.warning("lost-task sweep skipped: Redis cannot be read (%s)", error)
        return []
    return [task_id for task_id, worker, started, since in overdue if _declare_lost(task_id, worker, started, since)]


def _declare_lost(task_id: str, worker: str | None, started, unclaimed_since: float) -> bool:
    since = f"{timezone.localtime(datetime.fromtimestamp(unclaimed_since, tz=UTC)):%H:%M:%S %Z}"
    reason = stored_text("reason.worker_lost", worker=worker or stored_text("reason.its_worker"), since=since)
    return _fail_and_send_again(task_id, from_states=RUNNING_STATES, error="WorkerLost", reason=reason,
                                why=stored_text("reason.worker_lost_short"), run_started=started)


ANY_RUN = object()


def _fail_and_send_again(task_id: str, *, from_states, error: str, reason: str, why: str,
                         run_started=ANY_RUN) -> bool:
    """Fail the task with the reason (if it is still in `from_states`, and still the run that started
    at `run_started`), record it on its timeline, send it again when safe, and tell its watchers.
    False when it had moved on meanwhile."""
    with transaction.atomic():
        if run_started is not ANY_RUN:
            # Compared as read back, not in SQL: SQLite keeps Celery's start time to the millisecond.
            current = TaskResult.objects.select_for_update().filter(task_id=task_id).values_list(
                "date_started", flat=True).first()
            if current != run_started:
                return False  # started again meanwhile: another run, with a count of its own
        updated = TaskResult.objects.filter(task_id=task_id, status__in=from_states).update(
            status=states.FAILURE,
            result=json.dumps({"exc_type": error, "exc_message": [reason], "exc_module": "builtins"}),
            traceback=f"{error}: {shown_in_default_language(reason)}\n",
            date_done=timezone.now(),
        )
        if not updated:
            return False  # it finished, started (again) or was revoked meanwhile
        record_event(task_id, LOST_EVENT, reason)
    logger.warning("task %s: %s", task_id, shown_in_default_language(reason))
    _send_again(task_id, why)
    view = load_view(task_id)
    if view is not None:
        publish_view(view)
    return True


def _send_again(task_id: str, why: str) -> str | None:
    """Send a lost task again, as a dashboard retry would (once, same arguments, linked), when its code
    says it is safe to repeat (`acks_late`)."""
    from dashboard.monitor.actions import TaskActionRefused, task_retry

    name = TaskResult.objects.filter(task_id=task_id).values_list("task_name", flat=True).first()
    if not getattr(current_app.tasks.get(name or ""), "acks_late", False):
        return None
    try:
        return task_retry(user=None, task_id=task_id, why=why)
    except TaskActionRefused as refusal:
        logger.info("lost task %s not sent again: %s", task_id, refusal)
        return None


# --- messages the broker lost ---

EPOCH_KEY = "site:broker-epoch"
SUSPECTS_KEY = "site:broker-unqueued-suspects"  # queued task id -> when a look first missed it
UNQUEUED_GRACE_SECONDS = 30.0  # from a queued row to its message in the broker, at the very most
SCAN_LIMIT = 100_000  # messages read at most when looking for lost ones
QUEUED_STATES = (states.PENDING, states.RECEIVED)


def tasks_unqueued_sweep(*, broker: redis.Redis | None = None, now: float | None = None) -> list[str]:
    """After the broker's Redis lost its data, the queued tasks whose message exists nowhere:
    sent again when safe, else failed with "message lost". Their ids.

    A Redis that keeps nothing on disk (as `make run`'s private one) forgets every queued and
    unacknowledged message when it restarts; their rows would say "queued" for ever. A marker key
    tells when that happened: while it exists nothing was lost and this costs one command. When it
    is missing (a restart, a flush, or the very first run), the queues and the unacknowledged
    messages are read. A queued row is written just before its message is sent, so a task missing
    from the broker at one look may be on its way: it is lost only when looks UNQUEUED_GRACE_SECONDS
    apart (Redis's clock) both miss it. The marker is set again once nothing is left missing.
    """
    if not settings.BROKER_REDIS_URL:
        return []  # RabbitMQ keeps its queues across restarts
    broker = broker or role_client("broker", timeout=5)
    try:
        now = redis_time(broker) if now is None else now
        if broker.exists(EPOCH_KEY):
            return []
        waiting = list(TaskResult.objects.filter(status__in=QUEUED_STATES).values_list("task_id", flat=True))
        present = _ids_in_broker(broker) if waiting else set()
        if present is None:
            return []
        missing = {task_id for task_id in waiting if task_id not in present}
        since = {key.decode(): float(value) for key, value in broker.hgetall(SUSPECTS_KEY).items()}
        lost = sorted(task_id for task_id in missing if now - since.get(task_id, now) >= UNQUEUED_GRACE_SECONDS)
        pipe = broker.pipeline()
        pipe.delete(SUSPECTS_KEY)
        waiting_longer = {task_id: since.get(task_id, now) for task_id in missing if task_id not in lost}
        if waiting_longer:
            pipe.hset(SUSPECTS_KEY, mapping=waiting_longer)
            pipe.expire(SUSPECTS_KEY, 3600)
        else:
            pipe.set(EPOCH_KEY, now)
        pipe.execute()
    except (redis.RedisError, OSError) as error:
        logger.warning("lost-message sweep skipped: the broker cannot be read (%s)", error)
        return []
    return [task_id for task_id in lost if _declare_message_lost(task_id)]


def _ids_in_broker(broker: redis.Redis) -> set[str] | None:
    """Task ids of every message in any bound queue or unacknowledged; None when there are too many."""
    queues: set[bytes] = set()
    for key in broker.scan_iter(match="_kombu.binding.*", count=500):
        for member in broker.smembers(key):
            queues.add(member.split(b"\x06\x16")[-1])
    ids: set[str] = set()
    read = 0
    raw_messages = []
    for queue in queues:
        length = broker.llen(queue)
        read += length
        if read > SCAN_LIMIT:
            logger.warning("lost-message sweep: more than %d queued messages, not judging", SCAN_LIMIT)
            return None
        raw_messages.extend(broker.lrange(queue, 0, -1))
    for value in broker.hvals("unacked"):
        try:
            raw_messages.append(json.dumps(json.loads(value)[0]))
        except (ValueError, IndexError, TypeError):
            continue
    for raw in raw_messages:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        task_id = (message.get("headers") or {}).get("id") or (message.get("properties") or {}).get("correlation_id")
        if task_id:
            ids.add(task_id)
    return ids


def _declare_message_lost(task_id: str) -> bool:
    reason = "message lost: the broker restarted without it, so no worker will ever receive this task"
    return _fail_and_send_again(task_id, from_states=QUEUED_STATES, error="MessageLost", reason=reason,
                                why="message lost")
