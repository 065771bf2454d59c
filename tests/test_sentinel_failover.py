"""A Sentinel-managed Redis (a master, one replica, one sentinel: Debian's redis-sentinel) behind
every role, and its master killed during a demo job: the sentinel promotes the replica, the worker
and daphne follow it, the job finishes, and its page is live again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import session_cookie, start_daphne, start_worker
from tests.livetools import collect_until_final, percent_of, recv_until_state, state_of, wait_for, ws_connect
from tests.roles_helpers import SentinelGroup, api_call, demo_job_start, staff_with_token

pytestmark = [pytest.mark.live, pytest.mark.serial]


@pytest.fixture
def sentinel_site(transactional_db):
    group = SentinelGroup("failover")
    env = {"REDIS_URL": group.url(), "LIVE_PROBE_INTERVAL": "0.5", "LIVE_PROBE_TIMEOUT": "1"}
    worker = start_worker("worker-sentinel", env=env)
    web = start_daphne("daphne-sentinel", env=env)
    try:
        yield {"group": group, "worker": worker, "web": web}
    finally:
        web.stop()
        worker.stop()
        group.stop()


def _percent(message: str) -> int | None:
    value = percent_of(message)
    return int(value.rstrip("%")) if value and value.endswith("%") else None


def test_a_demo_job_outlives_a_sentinel_failover_and_its_page_is_live_again(sentinel_site):
    group, web, worker = sentinel_site["group"], sentinel_site["web"], sentinel_site["worker"]
    user, token = staff_with_token("sentinel-watcher", "dashboard.start_demo_job")
    first_master = group.master_port()
    task_id = demo_job_start(web, token, steps=60, delay_ms=250)
    with ws_connect(web, f"/ws/tasks/{task_id}/", session_cookie(user)) as ws:
        before = recv_until_state(ws, "PROGRESS", timeout=60)
        # The master dies: nothing on disk, the replica has what was replicated.
        os.kill(group.master.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: group.master_port() != first_master, timeout=60, interval=0.5)
        promoted = time.monotonic()
        after = collect_until_final(ws, timeout=120)
    assert state_of(after[-1]) == "SUCCESS", [state_of(m) for m in after]
    highest_before = max(filter(None, map(_percent, before)), default=0)
    live_after = [p for p in map(_percent, after) if p is not None and p > highest_before]
    assert len(live_after) >= 3, (highest_before, [_percent(m) for m in after])
    assert promoted - killed_at < 60

    # The worker is still the same process, serving the new master: another job runs to the end.
    assert worker.popen.poll() is None, worker.log()[-3000:]
    second = demo_job_start(web, token, steps=3, delay_ms=50)
    with ws_connect(web, f"/ws/tasks/{second}/", session_cookie(user)) as ws:
        assert state_of(collect_until_final(ws, timeout=60)[-1]) == "SUCCESS"
    # Queue lengths come from the broker through the sentinels too.
    queues = wait_for(lambda: (lambda answer: answer[2] if answer[0] == 200 else None)(
        api_call(web, "GET", "/api/queues/", token)), timeout=30, interval=1)
    assert "celery" in {queue["name"] for queue in queues}, queues


def test_the_lost_message_sweep_reads_a_sentinel_managed_broker(settings, transactional_db):
    import redis

    from dashboard.monitor.lost import EPOCH_KEY, tasks_unqueued_sweep

    group = SentinelGroup("sweep")
    try:
        settings.BROKER_REDIS_URL = group.url(3)
        assert tasks_unqueued_sweep() == []  # nothing queued, nothing lost: but the broker was read
        master = redis.Redis(port=group.master_port(), db=3)
        assert master.exists(EPOCH_KEY), "the sweep did not reach the master the sentinel names"
        master.close()
    finally:
        group.stop()
