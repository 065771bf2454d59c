"""Stops as platforms do them: SIGTERM to every process, SIGKILL some seconds later.

The web process (site_config/ops/web.py) answers /readyz 503 at once, keeps serving through its
drain period, then closes websockets with 1012, which the pages reconnect after. The whole
formation (web, worker, beat from the Procfile's lines) stopped with an export and an image's
renditions running: what could not finish goes back to the queue and finishes after the restart.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request

import pytest
import redis
from celery import states
from django_celery_results.models import TaskResult
from websockets.exceptions import ConnectionClosed

from blog.models import Comment, Post
from dashboard.models import Export, TaskEvent
from site_config.devtools.local_redis import free_port
from site_config.devtools.supervisor import procfile_entries
from tests.blog_helpers import make_post
from tests.conftest import BASE_DIR, Process, child_env, grant, make_user, session_cookie, start_worker
from tests.image_helpers import jpeg_bytes, post_with_image
from tests.livetools import process_exists, wait_for, worker_pid_running, ws_connect
from tests.plugin import REDIS
from tests.worker_tasks import gated_demo_job_task, gated_export_start

pytestmark = [pytest.mark.live, pytest.mark.serial]

PROCFILE = procfile_entries(BASE_DIR / "Procfile")


def _start(kind: str, name: str, **env: str) -> Process:
    """A Procfile line run as a process manager runs it (its own process group, like a container)."""
    # The worker also loads the tests' gated tasks (tests/worker_tasks.py), as every test worker does.
    extra = " --include tests.worker_tasks" if kind == "worker" else ""
    return Process(name, ["/bin/sh", "-c", f"exec {PROCFILE[kind]}{extra}"], child_env(**env))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _start_web(name: str, drain: float) -> Process:
    port = free_port()
    web = _start("web", name, PORT=str(port), BIND_ADDRESS="127.0.0.1", WEB_DRAIN_SECONDS=str(drain))
    web.url, web.ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"

    def answers():
        if web.popen.poll() is not None:
            raise AssertionError(f"web exited:\n{web.log()[-3000:]}")
        try:
            return _get(f"{web.url}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(answers, timeout=60, interval=0.2)
    return web


def test_web_told_to_stop_turns_unready_keeps_serving_then_closes_websockets_with_1012(transactional_db, alice):
    web = _start_web("web-drain", drain=4)
    try:
        assert _get(f"{web.url}/readyz")[0] == 200  # "degraded" at most: no worker here
        with ws_connect(web, "/ws/tasks/", session_cookie(alice)) as ws:
            ws.recv(timeout=15)  # the snapshot: the socket is live
            os.kill(web.popen.pid, signal.SIGTERM)
            told = time.monotonic()
            wait_for(lambda: _get(f"{web.url}/readyz")[0] == 503, timeout=2, interval=0.05)
            assert json.loads(_get(f"{web.url}/readyz")[1])["status"] == "stopping"
            assert time.monotonic() - told < 2
            # Still serving during the drain: pages, and new websockets.
            assert _get(f"{web.url}/healthz")[0] == 200
            assert _get(f"{web.url}/accounts/login/")[0] == 200
            with ws_connect(web, "/ws/tasks/", session_cookie(alice)) as late:
                late.recv(timeout=15)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=30)
            closed_after = time.monotonic() - told
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert closed_after >= 3.5, f"websockets closed {closed_after:.1f} s after SIGTERM, before the drain ended"
        assert web.popen.wait(timeout=15) == 0
        assert "websocket(s) closed with 1012" in web.log()
    finally:
        web.stop()


def _signal_groups(processes: list[Process], signum: int) -> None:
    for process in processes:
        if process.popen.poll() is None:
            try:
                os.killpg(process.popen.pid, signum)
            except ProcessLookupError:
                pass


def _queued_ids(queue: str = "celery") -> set[str]:
    client = redis.Redis.from_url(REDIS.url)
    try:
        return {json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)}
    finally:
        client.close()


def _formation(suffix: str) -> list[Process]:
    worker = _start("worker", f"stop-worker{suffix}", HONCHO_PROCESS_NAME="worker.1", CELERY_CONCURRENCY="2",
                    CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="3")
    beat = _start("beat", f"stop-beat{suffix}")
    web = _start_web(f"stop-web{suffix}", drain=2)
    worker.wait_for_log("ready.", timeout=60)
    beat.wait_for_log("beat: Starting...", timeout=60)
    return [web, worker, beat]


def test_sigterm_to_every_process_then_sigkill_an_export_and_renditions_finish_after_the_restart(
        transactional_db, alice, bob, gate, sole_consumer):
    kill_delay = 20.0  # platforms wait about 30 s; soft shutdown (3 s) and drain (2 s) fit well inside
    formation = _formation("")
    restarted: list[Process] = []
    try:
        # An export that cannot finish before the kill (held at its gate after its first batch of
        # two rows), and an image's renditions.
        commented = make_post(alice, slug="commented")
        for number in range(3):
            Comment.objects.create(post=commented, author=bob, body=f"comment {number}", status=Comment.Status.APPROVED)
        export = gated_export_start(owner=bob, kind=Export.Kind.MEMBER_DATA, gate=gate)
        post, renditions_id = post_with_image(alice, jpeg_bytes(5000, 4000))
        wait_for(lambda: TaskResult.objects.filter(task_id=export.task_id, status__in=["STARTED", "PROGRESS"]).exists(),
                 timeout=60)
        wait_for(lambda: TaskResult.objects.filter(task_id=renditions_id).exclude(status="PENDING").exists(),
                 timeout=60)

        _signal_groups(formation, signal.SIGTERM)  # every process of every group, pool children too
        deadline = time.monotonic() + kill_delay
        while time.monotonic() < deadline and any(p.popen.poll() is None for p in formation):
            time.sleep(0.2)
        still_running = [p.name for p in formation if p.popen.poll() is None]
        _signal_groups(formation, signal.SIGKILL)
        assert still_running == [], f"not stopped within {kill_delay} s of SIGTERM: {still_running}"
        worker_log = formation[1].log()
        assert "Cold shutdown" in worker_log, worker_log[-3000:]

        # What could not finish went back to the queue, not lost: the export's message waits there.
        assert TaskResult.objects.get(task_id=export.task_id).status != states.SUCCESS
        assert export.task_id in _queued_ids()

        restarted = _formation("-again")
        gate.open()
        wait_for(lambda: TaskResult.objects.filter(task_id=export.task_id, status__in=states.READY_STATES).exists(),
                 timeout=90)
        wait_for(lambda: TaskResult.objects.filter(task_id=renditions_id, status__in=states.READY_STATES).exists(),
                 timeout=90)
        assert TaskResult.objects.get(task_id=export.task_id).status == states.SUCCESS
        assert TaskResult.objects.get(task_id=renditions_id).status == states.SUCCESS
        export.refresh_from_db()
        assert export.status == Export.Status.READY and export.file
        post = Post.objects.get(pk=post.pk)
        assert post.image_status == "ready" and post.image_renditions.exists()
        assert not TaskEvent.objects.filter(task_id__in=[export.task_id, renditions_id], kind="lost").exists()
    finally:
        for process in formation + restarted:
            process.stop()


def test_terminate_with_sigterm_from_the_dashboard_reaches_a_worker_whose_sigterm_is_remapped(
        transactional_db, client, gate):
    """The Procfile's worker ignores SIGTERM in its pool processes; the dashboard's default
    terminate still stops the task (the worker sends its own terminate signal, SIGQUIT)."""
    operator = grant(make_user("tess", staff=True), "dashboard.act_on_tasks")
    worker = start_worker("worker-remapped", "--queues", "remapped", env={"REMAP_SIGTERM": "SIGQUIT"})
    try:
        task = gated_demo_job_task.apply_async((2, 0), {"gate_key": gate.key}, queue="remapped",
                                         headers={"launched_by": operator.pk})
        gate.open_to(1)  # step 1 runs, then the job waits at step 2
        wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status="PROGRESS").exists(), timeout=30)
        pid = wait_for(lambda: worker_pid_running(task.id, "worker-remapped"), timeout=30)
        client.force_login(operator)
        assert client.post(f"/dashboard/tasks/{task.id}/terminate/", {"signal": "SIGTERM"}).status_code == 302
        wait_for(lambda: f"Terminating {task.id} (3)" in worker.log(), timeout=30)  # 3: SIGQUIT
        wait_for(lambda: not process_exists(pid), timeout=30)
        assert TaskResult.objects.get(task_id=task.id).status == states.REVOKED
    finally:
        worker.stop()
