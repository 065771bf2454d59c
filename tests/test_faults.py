"""Fault drills with real processes: what the site does when Redis, a worker or SMTP goes away.

Each drill runs its own Redis (never the session's), so restarting it disturbs no other test.
"""

from __future__ import annotations

import urllib.error
import urllib.request

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


def _get(url: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


PAGES_THAT_READ_THE_CACHE = ["/dashboard/", "/dashboard/tasks/", "/dashboard/tasks/counts/", "/dashboard/workers/",
                             "/dashboard/schedules/", "/dashboard/moderation/", "/blog/"]


def test_while_redis_is_down_pages_answer_with_a_notice_and_open_pages_say_they_are_not_live(
        transactional_db, own_redis, alice):
    web = start_daphne("daphne-redis-down", env={"REDIS_URL": own_redis.url, "LIVE_PROBE_INTERVAL": "0.5",
                                                 "LIVE_PROBE_TIMEOUT": "0.5", "WORKERS_INSPECT_TIMEOUT": "0.2",
                                                 "WORKERS_HEARTBEAT_WINDOW": "0.2"})
    cookie = session_cookie(alice)
    try:
        result = demo_job_task.apply_async((3, 0), queue="parked")  # stays queued: no worker reads "parked"
        with ws_connect(web, f"/ws/tasks/{result.id}/", cookie) as ws:
            assert state_of(ws.recv(timeout=5)) == states.PENDING
            own_redis.stop()
            pushed = ws.recv(timeout=10)
            assert 'id="live-state"' in pushed and 'data-live="false"' in pushed and "reconnecting" in pushed
            for path in PAGES_THAT_READ_THE_CACHE:
                status, html = _get(web.url + path, cookie)
                assert status == 200, (path, status)
                if not path.endswith("counts/"):  # a fragment, no page around it
                    assert 'id="redis-notice"' in html, path
            # A page opened during the outage still gets its snapshot from the database, and is told.
            with ws_connect(web, f"/ws/tasks/{result.id}/", cookie) as late:
                assert state_of(late.recv(timeout=5)) == states.PENDING
                assert 'data-live="false"' in late.recv(timeout=5)
            own_redis.start()
            again = [ws.recv(timeout=15), ws.recv(timeout=5)]
            assert state_of(again[0]) == states.PENDING  # the snapshot, re-sent
            assert 'data-live="true"' in again[1]
        assert "Exception inside application" not in web.log()
    finally:
        web.stop()
