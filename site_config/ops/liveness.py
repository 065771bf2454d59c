"""Which workers are alive and what they are running: the one source of worker liveness, in Redis.

Celery's own heartbeats are events for whoever listens at that moment; nothing remembers them. So
every worker's main process writes, every WORKER_HEARTBEAT_SECONDS, one key that Redis keeps for
three intervals: who it is (node name and pid), the ids of the tasks it is running, its load average
and how many tasks it has processed. A worker is alive while its key exists; Redis expires it, so
no host's clock decides. Everything that asks "is this worker alive" reads these keys:

- the lost-task sweep (dashboard/monitor/lost.py): a running task no live key claims, for long
  enough, is lost;
- the metrics' `site_workers_online` (site_config/ops/collector.py) and readiness's "workers"
  (site_config/ops/readiness.py): how many workers have a live key;
- the workers page (dashboard/workers/services.py): which workers are online, their load and counts.

The key is per process (node name and pid): a worker restarted under the same name is another
process, and does not vouch for the tasks its predecessor was running. The writer is a thread of its
own, so a worker whose task-consuming loop is stuck still counts as alive; its tasks are not
declared lost (they may still finish), which is what the workers page's inspect replies, missing,
then show.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import redis
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from site_config.machinery.redis_roles import redis_client as role_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "site:worker-alive:"


def redis_client() -> redis.Redis:
    return role_client("keys")


def heartbeat_write(client: redis.Redis, *, hostname: str, pid: int, active: list[str], ttl: float,
                    loadavg: list[float] | None = None, processed: int | None = None) -> None:
    record = {"hostname": hostname, "pid": pid, "active": active, "loadavg": loadavg, "processed": processed,
              "at": time.time()}  # for display only: nothing compares it with another host's clock
    client.set(f"{KEY_PREFIX}{hostname}:{pid}", json.dumps(record), ex=max(int(ttl), 1))


def heartbeats_read(client: redis.Redis) -> list[dict]:
    """Every live worker process's latest record (raises when Redis cannot be read)."""
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=200))
    records = []
    for raw in client.mget(keys) if keys else []:
        if raw:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("hostname"):
                records.append(record)
    return records


def running_task_ids(client: redis.Redis) -> set[str]:
    """Ids of the tasks every live worker says it is running (raises when Redis cannot be read)."""
    ids: set[str] = set()
    for record in heartbeats_read(client):
        ids.update(record.get("active") or [])
    return ids


def workers_alive(client: redis.Redis) -> dict[str, dict]:
    """Node name -> the newest record of the live workers (raises when Redis cannot be read)."""
    alive: dict[str, dict] = {}
    for record in heartbeats_read(client):
        known = alive.get(record["hostname"])
        if known is None or (record.get("at") or 0) > (known.get("at") or 0):
            alive[record["hostname"]] = record
    return alive


class Heartbeat(threading.Thread):
    """In a worker's main process: writes its key until stopped, then deletes it."""

    def __init__(self, hostname: str) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.hostname, self.pid = hostname, os.getpid()
        self.stopped = threading.Event()

    def _facts(self) -> dict:
        from celery.worker import state

        try:
            loadavg = [round(value, 2) for value in os.getloadavg()]
        except OSError:
            loadavg = None
        return {"active": [request.id for request in list(state.active_requests)],
                "processed": sum(dict(state.total_count).values()), "loadavg": loadavg}

    def run(self) -> None:
        interval = settings.WORKER_HEARTBEAT_SECONDS
        client = redis_client()
        while not self.stopped.is_set():
            try:
                heartbeat_write(client, hostname=self.hostname, pid=self.pid, ttl=interval * 3, **self._facts())
            except (redis.RedisError, OSError) as error:
                logger.debug("heartbeat not written (%s); trying again", error)
            self.stopped.wait(interval)
        try:
            client.delete(f"{KEY_PREFIX}{self.hostname}:{self.pid}")
        except (redis.RedisError, OSError):
            pass


_heartbeat: Heartbeat | None = None


@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    global _heartbeat
    _heartbeat = Heartbeat(getattr(sender, "hostname", None) or "worker")
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs) -> None:
    if _heartbeat is not None:
        _heartbeat.stopped.set()
        _heartbeat.join(timeout=5)
