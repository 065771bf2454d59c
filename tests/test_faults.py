"""Fault drills with real processes: what the site does when Redis, a worker or SMTP goes away.

Each drill runs its own Redis (never the session's), so restarting it disturbs no other test.
"""

from __future__ import annotations

import pytest
from celery import states
from django_celery_results.models import TaskResult

from dashboard.tasks import demo_job_task
from site_config.celery import app
from site_config.devtools.local_redis import PrivateRedis
from tests.conftest import session_cookie, start_daphne, start_worker
from tests.livetools import collect_until_final, state_of, wait_for, ws_connect
from tests.plugin import WORKDIR

pytestmark = pytest.mark.live


@pytest.fixture
def own_redis():
    redis = PrivateRedis(WORKDIR / "fault-redis").start()
    yield redis
    redis.stop()


def _queue(redis, task, *args, **options):
    """Queue on `redis` (the test process's own broker is the session Redis)."""
    with app.connection_for_write(redis.url) as connection:
        return task.apply_async(args, connection=connection, **options)


def test_worker_survives_a_redis_restart_and_the_running_job_finishes_on_the_page(transactional_db, own_redis, alice):
    env = {"REDIS_URL": own_redis.url}
    worker = start_worker("worker-redis-restart", env=env)
    web = start_daphne("daphne-redis-restart", env=env)
    try:
        result = _queue(own_redis, demo_job_task, 30, 200)  # about 6 s of work
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists(), timeout=20)
        with ws_connect(web, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
            assert state_of(ws.recv(timeout=5)) == "PROGRESS"
            own_redis.stop()
            wait_for(lambda: "Connection to broker lost" in worker.log(), timeout=15)
            own_redis.start()
            final = collect_until_final(ws, timeout=45)[-1]
        assert state_of(final) == states.SUCCESS
        assert TaskResult.objects.get(task_id=result.id).status == states.SUCCESS
        assert worker.popen.poll() is None, worker.log()[-3000:]
        assert "Unrecoverable error" not in worker.log()
        # And it keeps working: a new job queued after the restart runs.
        after = _queue(own_redis, demo_job_task, 2, 0)
        wait_for(lambda: TaskResult.objects.filter(task_id=after.id, status=states.SUCCESS).exists(), timeout=30)
    finally:
        web.stop()
        worker.stop()
