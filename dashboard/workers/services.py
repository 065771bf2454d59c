"""Workers and queues as the broker and the workers themselves report them (/dashboard/workers/).

One collection asks every worker at once, in parallel threads, and waits a bounded time:
  - `inspect().stats()`     pool, concurrency, pid, uptime, tasks processed per name;
  - `inspect().active()`    the tasks running now;  `inspect().reserved()`  prefetched, not started;
  - `inspect().scheduled()` tasks held until their ETA;  `inspect().revoked()`  revoked ids in memory;
  - `inspect().registered("rate_limit", "soft_time_limit", "time_limit")`  the task names with their
    current limits (so a rate or time limit set from the page shows at the next poll);
  - `inspect().conf()`      the worker's Celery settings (it answers with all of Django's: only CELERY_ ones are kept, secrets masked);
  - the workers' heartbeat keys in Redis (site_config/ops/liveness.py, the one source of worker
    liveness): load average, active/processed counts, heartbeat time;
  - every queue's length from the broker (dashboard.workers.queues: Redis or RabbitMQ).

A worker that neither answers nor has a live heartbeat is offline; the last time it was seen is kept
in the Django cache (Redis, shared by every web process), so the page still lists it with its
last-seen time for a day.

The result is cached too (`workers_snapshot(max_age=...)`): however many pages, sockets and web
processes look, the workers are asked at most once per `max_age`. The live page gets it from one
poller per daphne process (dashboard.live.poller), never once per watcher.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from dashboard.workers.queues import queue_lengths
from site_config.celery import app
from site_config.ops.liveness import redis_client as liveness_redis
from site_config.ops.liveness import workers_alive

logger = logging.getLogger(__name__)

#: How long a collection waits for the workers' replies and heartbeats (seconds).
#: The live page asks the workers at most this often (seconds).
#: An offline worker is listed with its last-seen time for this long, then forgotten.
FORGET_AFTER = timedelta(days=1)

REGISTRY_KEY = "dashboard:workers:registry"
SNAPSHOT_KEY = "dashboard:workers:snapshot"
LOCK_KEY = "dashboard:workers:collecting"


def workers_snapshot(*, max_age: float | None = None) -> dict:
    """The latest collection if younger than `max_age` seconds, else a new one (shared by all
    processes through the cache; while another process collects, its predecessor is returned)."""
    max_age = settings.WORKERS_POLL_INTERVAL if max_age is None else max_age
    snapshot = cache.get(SNAPSHOT_KEY)
    if snapshot and (timezone.now() - snapshot["collected_at"]).total_seconds() < max_age:
        return snapshot
    if snapshot and not cache.add(LOCK_KEY, 1, timeout=int(settings.WORKERS_INSPECT_TIMEOUT) + 5):
        return snapshot
    try:
        snapshot = workers_collect()
        cache.set(SNAPSHOT_KEY, snapshot, timeout=int(FORGET_AFTER.total_seconds()))
    finally:
        cache.delete(LOCK_KEY)
    return snapshot


def workers_collect() -> dict:
    """Ask the workers and the broker now (blocks about settings.WORKERS_INSPECT_TIMEOUT)."""
    methods = ("stats", "active", "reserved", "active_queues", "scheduled", "revoked", "registered", "conf")
    with ThreadPoolExecutor(max_workers=len(methods) + 1, thread_name_prefix="workers-inspect") as pool:
        replies = {name: pool.submit(_inspect, name, *INSPECT_ARGUMENTS.get(name, ())) for name in methods}
        heartbeats = pool.submit(_heartbeats)
        stats, active, reserved, consumed, scheduled, revoked, registered, conf = (
            replies[name].result() for name in methods)
        beats = heartbeats.result()
    now = timezone.now()
    registry: dict[str, dict] = cache.get(REGISTRY_KEY) or {}
    answered = set(stats) | set(active) | set(reserved) | set(beats)
    for hostname in answered:
        worker = registry.setdefault(hostname, {"hostname": hostname})
        worker.update(_worker_facts(hostname, stats.get(hostname), beats.get(hostname)))
        worker["online"] = True
        worker["last_seen"] = now
        worker["active"] = [_task_facts(t) for t in active.get(hostname) or []]
        worker["reserved"] = [_task_facts(t) for t in reserved.get(hostname) or []]
        worker["active_count"] = len(worker["active"]) if hostname in active else worker.get("active_count")
        if hostname in consumed:
            worker["queues"] = [{"name": q.get("name")} for q in consumed[hostname] or [] if q.get("name")]
        worker["scheduled"] = [_scheduled_facts(entry) for entry in scheduled.get(hostname) or []]
        if hostname in revoked:
            ids = sorted(revoked[hostname] or [])
            worker["revoked"] = {"count": len(ids), "ids": ids[:REVOKED_SHOWN]}
        if hostname in registered:
            worker["registered"] = [_registered_facts(line) for line in registered[hostname] or []]
        if hostname in conf:
            worker["conf"] = _conf_facts(conf[hostname] or {})
    for hostname, worker in list(registry.items()):
        if hostname in answered:
            continue
        if now - worker["last_seen"] > FORGET_AFTER:
            del registry[hostname]
            continue
        worker.update(online=False, active=[], reserved=[], scheduled=[], active_count=None)
    cache.set(REGISTRY_KEY, registry, timeout=int(FORGET_AFTER.total_seconds()))
    workers = sorted(registry.values(), key=lambda w: (not w["online"], w["hostname"]))
    queue_names = {q["name"] for w in workers for q in w.get("queues", [])}
    return {"collected_at": now, "workers": workers, "queues": queue_lengths(queue_names)}


#: Arguments of the inspect calls that take some: the task attributes `registered` reports.
INSPECT_ARGUMENTS = {"registered": ("rate_limit", "soft_time_limit", "time_limit")}
#: Revoked ids shown per worker (a worker remembers up to 50,000; the page gives the count).
REVOKED_SHOWN = 20


def _inspect(method: str, *arguments) -> dict:
    try:
        return getattr(app.control.inspect(timeout=settings.WORKERS_INSPECT_TIMEOUT), method)(*arguments) or {}
    except Exception:  # broker unreachable: every worker looks offline, the page says why
        logger.warning("inspect().%s() failed", method, exc_info=True)
        return {}


def _heartbeats() -> dict[str, dict]:
    """The latest heartbeat of each live worker (site_config/ops/liveness.py), by node name."""
    try:
        alive = workers_alive(liveness_redis())
    except Exception:  # Redis unreachable: the inspect replies alone say who is online
        logger.warning("could not read the worker heartbeats", exc_info=True)
        return {}
    return {hostname: {"loadavg": record.get("loadavg"), "timestamp": record.get("at"),
                       "processed": record.get("processed"), "active": len(record.get("active") or [])}
            for hostname, record in alive.items()}


def _worker_facts(hostname: str, stats: dict | None, beat: dict | None) -> dict:
    facts: dict = {}
    if stats:
        pool = stats.get("pool") or {}
        implementation = str(pool.get("implementation") or "")
        totals = stats.get("total") or {}
        uptime = stats.get("uptime")
        processes = pool.get("processes")
        pool_name = implementation.rsplit(":", 1)[0].rsplit(".", 1)[-1] or None
        facts.update(
            pool=pool_name,
            concurrency=pool.get("max-concurrency"),
            # prefork's max-concurrency is the size it started with; pool_grow/shrink change the processes.
            pool_size=len(processes) if isinstance(processes, list) else pool.get("max-concurrency"),
            autoscaler=stats.get("autoscaler") or None,
            pid=stats.get("pid"),
            uptime=uptime,
            started_at=timezone.now() - timedelta(seconds=uptime) if isinstance(uptime, (int, float)) else None,
            processed=sum(totals.values()),
            processed_per_task=sorted(totals.items(), key=lambda item: (-item[1], item[0])),
            prefetch_count=stats.get("prefetch_count"),
            system=_system_stats(stats.get("rusage") or {}),
            time_limits=pool.get("timeouts"),
            supports=pool_supports(pool_name, autoscaler=bool(stats.get("autoscaler"))),
        )
        facts["control_summary"] = _control_summary(pool_name, facts["supports"], autoscaler=bool(facts["autoscaler"]))
    if beat:
        facts.update(
            loadavg=beat.get("loadavg"),
            heartbeat=datetime.fromtimestamp(beat["timestamp"], tz=dt_timezone.utc) if beat.get("timestamp") else None,
            processed=beat.get("processed", facts.get("processed")),
            active_count=beat.get("active"),
        )
    facts["host"] = hostname.split("@", 1)[-1]
    facts["name"] = hostname.split("@", 1)[0]
    return facts


def _system_stats(rusage: dict) -> dict | None:
    """The worker main process's resource use as `inspect().stats()` reports it (getrusage): peak
    resident memory (Linux reports kilobytes), CPU time in user and system mode, context switches."""
    if not rusage:
        return None
    return {
        "max_rss_mb": round(rusage["maxrss"] / 1024, 1) if isinstance(rusage.get("maxrss"), (int, float)) else None,
        "user_cpu_s": rusage.get("utime"),
        "system_cpu_s": rusage.get("stime"),
        "voluntary_switches": rusage.get("nvcsw"),
        "involuntary_switches": rusage.get("nivcsw"),
    }


def _task_facts(task: dict) -> dict:
    delivery = task.get("delivery_info") or {}
    started = task.get("time_start")
    return {
        "id": task.get("id"),
        "name": task.get("name") or task.get("type"),
        "args": _short(task.get("args")),
        "queue": delivery.get("routing_key"),
        # time_start is wall-clock seconds in Celery 5; anything else is not shown.
        "started": datetime.fromtimestamp(started, tz=dt_timezone.utc) if isinstance(started, (int, float)) and started > 1e9 else None,
    }


def pool_supports(pool: str | None, *, autoscaler: bool) -> dict[str, bool]:
    """Which control commands a worker with this pool can carry out.

    Only prefork grows, shrinks and restarts its pool (solo has one slot; threads, gevent and
    eventlet have no such commands); with autoscale on, Celery refuses grow/shrink (change the
    autoscale range instead), and autoscale needs the worker started with `--autoscale`.
    """
    prefork = pool == "prefork"
    return {
        "pool_grow": prefork and not autoscaler,
        "pool_shrink": prefork and not autoscaler,
        "autoscale": prefork and autoscaler,
        "pool_restart": prefork,
    }


def _control_summary(pool: str | None, supports: dict[str, bool], *, autoscaler: bool) -> str:
    """What the page says a worker's pool can do, in words."""
    can = [str(word) for kind, word in (("pool_grow", pgettext_lazy("pool", "grow")),
                                        ("pool_shrink", pgettext_lazy("pool", "shrink")),
                                        ("autoscale", pgettext_lazy("pool", "autoscale")),
                                        ("pool_restart", pgettext_lazy("pool", "restart"))) if supports.get(kind)]
    if pool != "prefork":
        why = gettext("a %(pool)s pool cannot grow, shrink, autoscale or restart") % {"pool": pool or "unknown"}
    elif autoscaler:
        why = gettext("grow and shrink through its autoscale range")
    else:
        why = gettext("no autoscale (started without --autoscale)")
    return f"{', '.join(can)}; {why}" if can else why


def _scheduled_facts(entry: dict) -> dict:
    """One `inspect().scheduled()` entry: {"eta", "priority", "request": {...}}."""
    facts = _task_facts(entry.get("request") or {})
    eta = entry.get("eta")
    try:
        facts["eta"] = datetime.fromisoformat(eta) if isinstance(eta, str) else None
    except ValueError:
        facts["eta"] = None
    return facts


def _registered_facts(line: str) -> dict:
    """"name [rate_limit=10/m time_limit=30]" (Celery's format) as {"name", "rate_limit", ...}."""
    name, _, rest = str(line).partition(" [")
    facts = {"name": name}
    for pair in rest.rstrip("]").split():
        key, _, value = pair.partition("=")
        facts[key] = value
    return facts


def _conf_facts(conf: dict) -> list[tuple[str, str]]:
    """The worker's Celery settings as (name, text) pairs, secrets masked.

    `inspect().conf()` answers with the whole Django settings module (Celery reads it through
    config_from_object), so only the CELERY_ names are kept, shown as Celery names them
    (`worker_prefetch_multiplier`); Celery's own filter masks keys that look secret, and every URL
    loses its password (a Redis URL may carry one).
    """
    from celery.app.utils import filter_hidden_settings
    from kombu.utils.url import maybe_sanitize_url

    prefix = "CELERY_"
    celery_only = {key[len(prefix):].lower(): value for key, value in conf.items()
                   if isinstance(key, str) and key.startswith(prefix)}
    masked = filter_hidden_settings(celery_only)
    pairs = []
    for key, value in masked.items():
        text = value if isinstance(value, str) else repr(value)
        pairs.append((key, maybe_sanitize_url(text) if "://" in text else text))
    return sorted(pairs)


def _short(value, limit: int = 60) -> str:
    text = "" if value in (None, "", [], (), {}) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def workers_context(snapshot: dict) -> dict:
    consumers: dict[str, list[str]] = {}
    for worker in snapshot["workers"]:
        if worker["online"]:
            for queue in worker.get("queues", []):
                consumers.setdefault(queue["name"], []).append(worker["hostname"])
    queues = [{**queue, "consumers": consumers.get(queue["name"], [])} for queue in snapshot["queues"] or []]
    online = sum(1 for worker in snapshot["workers"] if worker["online"])
    return {
        "snapshot": snapshot,
        "queues": queues,
        "online_count": online,
        "offline_count": len(snapshot["workers"]) - online,
    }



def render_workers_fragment() -> str:
    """The live part of the page, rendered once per poll for every watcher (websocket message)."""
    snapshot = workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL - 0.5)
    return render_to_string("dashboard/workers/workers.html#workers-live", workers_context(snapshot))

