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
from site_config.machinery.stored_texts import shown
from tests.conftest import session_cookie, start_daphne, start_worker
from tests.livetools import collect_until_final, state_of, wait_for, ws_connect
from tests.plugin import WORKDIR

# Fault drills restart Redis, kill workers and cut connections: each needs the machine to itself.
pytestmark = [pytest.mark.live, pytest.mark.serial]


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
            wait_for(lambda: "Connection to broker lost" in worker.log(), timeout=30)  # seconds on a quiet machine; more under load
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
                                                 "LIVE_PROBE_TIMEOUT": "0.5", "WORKERS_INSPECT_TIMEOUT": "0.2"})
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


def test_a_task_whose_worker_died_is_shown_lost_sent_again_and_never_run_twice(transactional_db, alice, settings):
    import os
    import signal

    from dashboard.live.store import load_view
    from dashboard.models import TaskAction, TaskEvent
    from dashboard.monitor.lost import tasks_lost_sweep
    from site_config.ops.liveness import redis_client, running_task_ids

    settings.WORKER_LOST_AFTER_SECONDS = 5
    fast = {"WORKER_HEARTBEAT_SECONDS": "0.3"}
    client = redis_client()
    first = start_worker("worker-dies", "--queues", "dies", env=fast)
    second = None
    try:
        result = demo_job_task.apply_async((40, 200), queue="dies", headers={"launched_by": alice.pk})  # ~8 s
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists(), timeout=20)
        wait_for(lambda: result.id in running_task_ids(client), timeout=5)
        assert tasks_lost_sweep(client=client) == []  # claimed by a live worker: never lost
        os.killpg(first.popen.pid, signal.SIGKILL)  # the whole worker, main process and pool, at once
        first.popen.wait()
        # The same name, restarted: another process, which does not vouch for its predecessor's task.
        second = start_worker("worker-dies", "--queues", "dies", env=fast)
        wait_for(lambda: result.id not in running_task_ids(client), timeout=5)
        start = __import__("time").time()
        assert tasks_lost_sweep(client=client, now=start) == []  # unclaimed since now: not yet
        assert TaskResult.objects.get(task_id=result.id).status == "PROGRESS"
        assert tasks_lost_sweep(client=client, now=start + 6) == [result.id]
        row = TaskResult.objects.get(task_id=result.id)
        assert row.status == states.FAILURE
        view = load_view(result.id)
        assert view.error.startswith("WorkerLost: worker lost: worker-dies@")
        assert TaskEvent.objects.filter(task_id=result.id, kind="lost").exists()
        # Safe to repeat (acks_late): sent again as a new task linked to it, which runs to the end.
        again = TaskAction.objects.get(task_id=result.id, kind="retry")
        assert again.user is None and shown(again.note) == "sent again automatically: worker lost"
        wait_for(lambda: TaskResult.objects.filter(task_id=again.new_task_id, status=states.SUCCESS).exists(),
                 timeout=30)
        # The broker delivering the original again (its message was never acknowledged) runs nothing.
        demo_job_task.apply_async((40, 200), task_id=result.id, queue="dies")
        wait_for(lambda: TaskEvent.objects.filter(task_id=result.id, kind="ignored").exists(), timeout=20)
        assert TaskResult.objects.get(task_id=result.id).status == states.FAILURE
        assert not TaskEvent.objects.filter(task_id=result.id, kind="started").count() > 1
    finally:
        if second is not None:
            second.stop()
        first.stop()


def test_nothing_is_declared_lost_while_redis_cannot_be_read(transactional_db, own_redis, settings):
    import redis as redis_py

    from dashboard.monitor.lost import tasks_lost_sweep

    settings.WORKER_LOST_AFTER_SECONDS = 1
    TaskResult.objects.create(task_id="running-somewhere", task_name="dashboard.tasks.demo_job_task",
                              status=states.STARTED, worker="w@host")
    client = redis_py.Redis.from_url(own_redis.url)
    assert tasks_lost_sweep(client=client, now=1000.0) == []
    own_redis.stop()
    assert tasks_lost_sweep(client=client, now=5000.0) == []
    assert TaskResult.objects.get(task_id="running-somewhere").status == states.STARTED
    own_redis.start()
    assert tasks_lost_sweep(client=client, now=6000.0) == []  # the count starts again after a restart
    assert tasks_lost_sweep(client=client, now=6002.0) == ["running-somewhere"]


def test_daphne_closes_the_weather_session_when_it_stops(django_db_setup):
    from tests.weather_upstream import FakeOpenMeteo, stream_cards

    fake = FakeOpenMeteo()
    web = start_daphne("daphne-weather-shutdown", env={**fake.env, "WEATHER_RATE_LIMIT": "1000"})
    try:
        status, _, cards = stream_cards(web.url, "/weather/?cities=Berlin")
        assert status == 200 and len(cards) == 1
    finally:
        web.stop()
        fake.stop()
    assert web.popen.returncode is not None
    assert "Unclosed client session" not in web.log()
    assert "Unclosed connector" not in web.log()


def test_queued_tasks_whose_message_a_redis_restart_lost_are_sent_again_or_failed(transactional_db, own_redis, alice):
    import redis as redis_py

    from dashboard.live.store import load_view
    from dashboard.models import TaskAction
    from dashboard.monitor.lost import tasks_unqueued_sweep

    broker = redis_py.Redis.from_url(own_redis.url)
    safe = _queue(own_redis, demo_job_task, 3, 0, queue="nobody-reads-this")
    assert tasks_unqueued_sweep(broker=broker) == []  # first look: every queued task is in its queue
    assert tasks_unqueued_sweep(broker=broker) == []  # nothing lost since: one command, no scan
    own_redis.stop()
    own_redis.start()  # keeps nothing on disk: the queued message is gone
    kept = _queue(own_redis, demo_job_task, 3, 0, queue="nobody-reads-this")  # queued after the restart
    # Missed: it might be on its way (the row is written before the message is sent), even at a
    # second look soon after (sweeps queued while no worker ran come back to back).
    first_look = 1_000_000.0
    assert tasks_unqueued_sweep(broker=broker, now=first_look) == []
    assert tasks_unqueued_sweep(broker=broker, now=first_look + 2) == []
    assert TaskResult.objects.get(task_id=safe.id).status == states.PENDING
    assert tasks_unqueued_sweep(broker=broker, now=first_look + 31) == [safe.id]  # still missing 31 s later: lost
    assert load_view(safe.id).error.startswith("MessageLost: message lost")
    again = TaskAction.objects.get(task_id=safe.id, kind="retry")  # the demo job is safe to repeat
    assert TaskResult.objects.filter(task_id=again.new_task_id).exists()
    assert TaskResult.objects.get(task_id=kept.id).status == states.PENDING


def test_comments_left_pending_are_moderated_again(live_worker, transactional_db, bob):
    from datetime import timedelta

    from django.utils import timezone

    from blog.models import Comment, Post
    from blog.services.comments import comments_pending_requeue

    post = Post.objects.create(title="Lost", slug="lost", body="b", status=Post.Status.PUBLISHED, author=bob)
    comment = Comment.objects.create(post=post, author=bob, body="A kind and ordinary remark.")
    fresh = Comment.objects.create(post=post, author=bob, body="Another kind remark.")
    Comment.objects.filter(pk=comment.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert comments_pending_requeue(older_than_seconds=300) == 1
    wait_for(lambda: Comment.objects.get(pk=comment.pk).status != Comment.Status.PENDING, timeout=20)
    assert Comment.objects.get(pk=comment.pk).status == Comment.Status.APPROVED
    assert Comment.objects.get(pk=fresh.pk).status == Comment.Status.PENDING  # too young to be judged lost


@pytest.mark.postgresql_only  # a database reached over TCP, cut by a proxy
def test_a_worker_that_loses_the_database_for_a_moment_finishes_the_task_and_stores_it(transactional_db):
    from urllib.parse import urlparse, urlunparse

    from tests.conftest import _child_database_url
    from tests.tcp_proxy import TcpProxy

    url = urlparse(_child_database_url())
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 5432)
    proxied = urlunparse(url._replace(netloc=f"{url.username or 'postgres'}@127.0.0.1:{proxy.port}"))
    worker = start_worker("worker-db-cut", "--queues", "db-cut", env={"DATABASE_URL": proxied})
    try:
        result = demo_job_task.apply_async((20, 250), queue="db-cut")  # about 5 s
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists(), timeout=20)
        proxy.cut()
        wait_for(lambda: "Retrying" in worker.log() or "Failed operation" in worker.log(), timeout=20)
        assert TaskResult.objects.get(task_id=result.id).status == "PROGRESS"  # nothing marked done meanwhile
        proxy.restore()
        wait_for(lambda: TaskResult.objects.get(task_id=result.id).status in (states.SUCCESS, states.FAILURE),
                 timeout=60)
        row = TaskResult.objects.get(task_id=result.id)
        assert row.status == states.SUCCESS, row.traceback
        assert '"steps": 20' in row.result
    finally:
        worker.stop()
        proxy.close()
