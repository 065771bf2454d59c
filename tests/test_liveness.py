"""One source of worker liveness: the heartbeat keys in Redis (site_config/ops/liveness.py) decide
for the metrics, readiness, the workers page and the lost-task sweep alike, and Redis expires them."""

from __future__ import annotations

import redis

from dashboard.workers.services import _heartbeats
from site_config.ops.collector import SiteCollector
from site_config.ops.liveness import KEY_PREFIX, heartbeat_write, running_task_ids, workers_alive
from site_config.ops.readiness import Readiness
from tests.livetools import wait_for
from tests.plugin import REDIS


def _online_metric() -> float:
    for family in SiteCollector().collect():
        if family.name == "site_workers_online":
            return family.samples[0].value
    raise AssertionError("no site_workers_online")


def test_heartbeat_keys_make_workers_alive_everywhere_until_redis_expires_them(db):
    client = redis.Redis.from_url(REDIS.url)
    ours = {"liveness-a@host", "liveness-b@host"}
    heartbeat_write(client, hostname="liveness-a@host", pid=1, active=["task-1"], ttl=2, loadavg=[0.5, 0.4, 0.3],
                    processed=7)
    heartbeat_write(client, hostname="liveness-a@host", pid=2, active=[], ttl=2)  # restarted: still one worker
    heartbeat_write(client, hostname="liveness-b@host", pid=3, active=["task-2"], ttl=2)

    alive = workers_alive(client)
    assert ours <= set(alive)
    assert {"task-1", "task-2"} <= running_task_ids(client)
    others = len(set(alive) - ours)  # a worker of another test may be running in this session
    assert _online_metric() == others + 2
    assert Readiness()._check()["checks"]["workers"]["online"] == others + 2
    page = _heartbeats()
    assert page["liveness-b@host"]["active"] == 1 and ours <= set(page)

    wait_for(lambda: not ours & set(workers_alive(client)), timeout=10)
    assert not ours & set(_heartbeats())
    assert "task-1" not in running_task_ids(client)
    assert not list(client.scan_iter(match=f"{KEY_PREFIX}liveness-*"))
    client.close()
