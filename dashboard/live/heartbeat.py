"""Worker heartbeats in Redis, and which tasks some live worker is running right now.

Celery's own heartbeats are events for whoever listens at that moment; nothing remembers them. A
task whose worker died (its main process killed, the machine gone) would stay "running" on its page
for ever. So every worker's main process writes, every WORKER_HEARTBEAT_SECONDS, one key with a
time-to-live: who it is and the ids of the tasks it is running. A task no live worker claims, for
long enough, is lost (dashboard/monitor/lost.py decides and says so).

The key is per process (hostname and pid): a worker restarted under the same name is another
process, and does not vouch for the tasks its predecessor was running.
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


def heartbeat_write(client: redis.Redis, *, hostname: str, pid: int, active: list[str], ttl: float) -> None:
    client.set(f"{KEY_PREFIX}{hostname}:{pid}",
               json.dumps({"hostname": hostname, "pid": pid, "active": active, "at": time.time()}),
               ex=max(int(ttl), 1))


def running_task_ids(client: redis.Redis) -> set[str]:
    """Ids of the tasks every live worker says it is running (raises when Redis cannot be read)."""
    ids: set[str] = set()
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=200))
    for raw in client.mget(keys) if keys else []:
        if raw:
            try:
                ids.update(json.loads(raw)["active"])
            except (ValueError, KeyError, TypeError):
                continue
    return ids


class Heartbeat(threading.Thread):
    """In a worker's main process: writes its key until stopped, then deletes it."""

    def __init__(self, hostname: str) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.hostname, self.pid = hostname, os.getpid()
        self.stopped = threading.Event()

    def _active(self) -> list[str]:
        from celery.worker import state

        return [request.id for request in list(state.active_requests)]

    def run(self) -> None:
        interval = settings.WORKER_HEARTBEAT_SECONDS
        client = redis_client()
        while not self.stopped.is_set():
            try:
                heartbeat_write(client, hostname=self.hostname, pid=self.pid, active=self._active(), ttl=interval * 3)
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
