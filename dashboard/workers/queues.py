"""The broker's queues: how many messages wait in each, and purging one (Redis and RabbitMQ).

Lengths:
  - Redis: kombu keeps each queue as a list named after it, plus one list per priority step
    ("<queue>\\x06\\x16<step>"); declared queues are recorded in "_kombu.binding.<exchange>" sets.
    One pipelined round trip of `LLEN`s for every queue.
  - AMQP (RabbitMQ): a passive `queue_declare` answers the queue's ready-message count without the
    management plug-in; a queue that does not exist answers NOT_FOUND and is left out. AMQP cannot
    list its queues, so the names are the declared ones, the ones workers consume, and the ones this
    site has published to (remembered in a Redis set by `queue_remember`, from after_task_publish).

Purge (`queue_purge`): the messages are taken off the queue one by one through kombu (the same
calls on both brokers), in batches: each batch's task ids are read from the message headers, their
rows are marked REVOKED "purged by <user>" with a TaskAction each (so a worker refuses them even if
a message came back), and only then are the messages acknowledged. A crash before the
acknowledgement gives the batch back to the queue; a crash after it leaves nothing PENDING.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from urllib.parse import urlparse

from celery import states
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django_celery_results.models import TaskResult
from kombu import Queue

from dashboard.live.publish import publish_view
from dashboard.live.store import load_view
from dashboard.models import QueuePurge, TaskAction, TaskEvent
from site_config.celery import app
from site_config.machinery.redis_roles import redis_client
from site_config.machinery.stored_texts import stored_text

logger = logging.getLogger(__name__)

KOMBU_SEP = "\x06\x16"  # kombu's Redis transport: "<queue>\x06\x16<priority>" and binding fields
REDIS_SCHEMES = ("redis", "rediss", "unix", "socket", "sentinel")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp", "librabbitmq")
#: Queue names this site has published to (AMQP cannot list its queues), in the site's Redis.
SEEN_QUEUES_KEY = "site:dashboard:queues:seen"
#: Messages taken off a queue, marked and acknowledged together during a purge.
PURGE_BATCH = 500
#: Purged tasks whose rows are pushed to open pages one by one; beyond this, pages show them on reload
#: (rendering every fragment of a 100,000-message purge would hold the request for minutes).
PURGE_PUBLISH_LIMIT = 200
#: Task states a waiting message can have; a purged task's row leaves them for REVOKED.
WAITING_STATES = (states.PENDING, states.RECEIVED, states.RETRY)


def broker_kind() -> str | None:
    """"redis", "amqp", or None for a broker whose queues this page cannot read."""
    url = app.conf.broker_url or ""
    if isinstance(url, (list, tuple)):
        url = url[0] if url else ""
    scheme = urlparse(url.split(";", 1)[0]).scheme.split("+")[-1]
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "amqp"
    return None


def _configured_names() -> set[str]:
    return {app.conf.task_default_queue} | {q.name for q in (app.conf.task_queues or [])}


def queue_lengths(extra_names: set[str] = frozenset()) -> list[dict] | None:
    """[{"name", "length"}] for every queue the broker knows of, or None when the broker is neither
    Redis nor AMQP or cannot be reached (the page says so)."""
    kind = broker_kind()
    names = set(extra_names) | _configured_names() | _seen_queues()
    try:
        if kind == "redis":
            lengths = _redis_lengths(names)
        elif kind == "amqp":
            lengths = _amqp_lengths(names)
        else:
            return None
    except Exception:
        logger.warning("could not read queue lengths from the broker", exc_info=True)
        return None
    return [{"name": name, "length": lengths[name]} for name in sorted(lengths)]


def queue_length(name: str) -> int | None:
    """Messages waiting in one queue now; None when it does not exist (AMQP) or the broker cannot
    be read."""
    try:
        if broker_kind() == "redis":
            return _redis_lengths({name}, discover=False)[name]
        if broker_kind() == "amqp":
            return _amqp_lengths({name}).get(name)
    except Exception:
        logger.warning("could not read the length of queue %s", name, exc_info=True)
    return None


# --- Redis ---


def _redis_options() -> tuple[str, list[int]]:
    options = app.conf.broker_transport_options or {}
    return options.get("global_keyprefix", ""), [step for step in options.get("priority_steps", [0, 3, 6, 9]) if step]


def _redis_lengths(names: set[str], *, discover: bool = True) -> dict[str, int]:
    prefix, steps = _redis_options()
    client = _redis("broker")
    if discover:
        names = names | _declared_queues(client, prefix)
    names.discard("")
    ordered = sorted(names)
    pipe = client.pipeline(transaction=False)
    for name in ordered:
        pipe.llen(f"{prefix}{name}")
        for step in steps:
            pipe.llen(f"{prefix}{name}{KOMBU_SEP}{step}")
    lengths = pipe.execute()
    per_queue = 1 + len(steps)
    return {name: sum(lengths[i * per_queue:(i + 1) * per_queue]) for i, name in enumerate(ordered)}


_declared: dict = {"at": float("-inf"), "names": set()}
#: How often the broker's list of declared queues is re-read (a SCAN over the key space).
DECLARED_QUEUES_MAX_AGE = 60.0


def _declared_queues(client, prefix: str) -> set[str]:
    """Every queue declared through kombu, from its "_kombu.binding.<exchange>" sets.

    A queue sent to by name (`apply_async(queue="parked")`) gets an exchange of its own, so the
    sets are found with SCAN (incremental, never blocks Redis), at most once a minute per process.
    Celery's own plumbing (events, remote-control replies) is left out.
    """
    if time.monotonic() - _declared["at"] < DECLARED_QUEUES_MAX_AGE:
        return set(_declared["names"])
    names: set[str] = set()
    binding = f"{prefix}_kombu.binding."
    for key in client.scan_iter(match=f"{binding}*", count=1000):
        exchange = key.decode(errors="replace")[len(binding):]
        if exchange == "celeryev" or exchange.endswith(".pidbox"):
            continue
        for member in client.smembers(key):
            names.add(member.decode(errors="replace").split(KOMBU_SEP)[-1])
    _declared.update(at=time.monotonic(), names=names)
    return set(names)


def _redis(role: str):
    return redis_client(role)


# --- AMQP ---


def _amqp_lengths(names: set[str]) -> dict[str, int]:
    """Passive declarations on one connection; NOT_FOUND closes the channel, so a new one follows."""
    from amqp.exceptions import NotFound

    lengths: dict[str, int] = {}
    missing: list[str] = []
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1)
        channel = connection.channel()
        try:
            for name in sorted(n for n in names if n):
                try:
                    _, count, _ = channel.queue_declare(queue=name, passive=True)
                    lengths[name] = count
                except NotFound:
                    missing.append(name)
                    channel = connection.channel()
        finally:
            channel.close()
    _forget_queues(missing)
    return lengths


# --- queues this site has published to (for AMQP, which cannot list them) ---

_remembered: set[str] = set()


def queue_remember(name: str) -> None:
    """Record that a task was sent to `name`; one Redis call per queue name per process."""
    if not name or name in _remembered:
        return
    try:
        _redis("keys").sadd(SEEN_QUEUES_KEY, name)
        _remembered.add(name)
    except Exception:  # Redis down: try again with the next task sent there
        logger.debug("could not remember queue %s", name, exc_info=True)


def _seen_queues() -> set[str]:
    try:
        return {m.decode(errors="replace") for m in _redis("keys").smembers(SEEN_QUEUES_KEY)}
    except Exception:
        return set()


def _forget_queues(names: list[str]) -> None:
    if names:
        try:
            _redis("keys").srem(SEEN_QUEUES_KEY, *names)
        except Exception:
            pass
        _remembered.difference_update(names)


# --- purge ---


class QueueNotFound(LookupError):
    """No such queue in the broker (or the broker cannot be read)."""


def queue_names(extra_names: set[str] = frozenset()) -> set[str]:
    """The queues the workers page lists (and so may be purged)."""
    lengths = queue_lengths(extra_names) or []
    return {queue["name"] for queue in lengths}


def queue_purge(*, name: str, user, confirmed_count: int | None = None) -> QueuePurge:
    """Take every message waiting in queue `name` off the broker, mark each one's task REVOKED
    "purged by <user>", and record the purge (who, when, which queue, how many).

    At most the messages waiting when the purge begins are taken (a producer sending meanwhile
    cannot keep it going forever); messages a worker has already reserved are not in the queue and
    are not touched.
    """
    waiting = queue_length(name)
    if waiting is None:
        raise QueueNotFound(gettext("The broker has no queue %(name)r (or cannot be reached).") % {"name": name})
    reason = stored_text("reason.purged_by", user=user.get_username(), queue=name)
    batch = uuid.uuid4()
    purged = published = 0
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        channel = connection.channel()
        try:
            queue = Queue(name, no_declare=True).bind(channel)
            while purged < waiting:
                messages = []
                while len(messages) < PURGE_BATCH and purged + len(messages) < waiting:
                    message = queue.get(no_ack=False)
                    if message is None:
                        break
                    messages.append(message)
                if not messages:
                    break
                task_ids = _revoke_purged(messages, user=user, batch=batch, reason=reason)
                for message in messages:
                    message.ack()
                purged += len(messages)
                published += _publish(task_ids[: max(0, PURGE_PUBLISH_LIMIT - published)])
        finally:
            channel.close()
    return QueuePurge.objects.create(batch=batch, queue=name, purged_count=purged, confirmed_count=confirmed_count,
                                     user=user, broker=broker_kind() or "")


def _revoke_purged(messages, *, user, batch: uuid.UUID, reason: str) -> list[str]:
    """Mark the tasks of these messages REVOKED with the reason, in one transaction; returns their ids."""
    names: dict[str, str] = {}
    for message in messages:
        headers = message.headers or {}
        task_id = headers.get("id") or (message.properties or {}).get("correlation_id")
        if task_id:
            names.setdefault(task_id, headers.get("task") or "")
    if not names:
        return []
    now = timezone.now()
    result = json.dumps({"exc_type": "TaskRevokedError", "exc_message": [reason],
                         "exc_module": "celery.exceptions", "purged_by": user.get_username()})
    ids = list(names)
    with transaction.atomic():
        TaskResult.objects.filter(task_id__in=ids, status__in=WAITING_STATES).update(
            status=states.REVOKED, result=result, date_done=now)
        existing = set(TaskResult.objects.filter(task_id__in=ids).values_list("task_id", flat=True))
        # A message sent without passing through this site (another app, before the dashboard): a row
        # of its own, so its result never reads PENDING.
        TaskResult.objects.bulk_create(
            [TaskResult(task_id=task_id, task_name=names[task_id], status=states.REVOKED, result=result, date_done=now,
                        content_type="application/json", content_encoding="utf-8")
             for task_id in ids if task_id not in existing],
            ignore_conflicts=True,
        )
        TaskAction.objects.bulk_create(
            [TaskAction(batch=batch, kind=TaskAction.Kind.PURGE, task_id=task_id, user=user, note=reason) for task_id in ids])
        TaskEvent.objects.bulk_create([TaskEvent(task_id=task_id, kind="revoked", at=now, detail=reason) for task_id in ids])
    return ids


def _publish(task_ids: list[str]) -> int:
    for task_id in task_ids:
        view = load_view(task_id)
        if view is not None:
            publish_view(view)
    return len(task_ids)
