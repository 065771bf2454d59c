"""Task progress stored through django-celery-results and pushed live over websockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from celery import states
from django.db import connections
from django.http import JsonResponse
from django.test import AsyncClient
from django.urls import include, path
from django_celery_results.models import TaskResult
from websockets.exceptions import InvalidStatus

from dashboard.live import signals as live_signals
from dashboard.models import TaskEvent, TaskLaunch
from dashboard.tasks import demo_job_task
from tests.conftest import grant, session_cookie
from tests.livetools import (
    ParkedQueue,
    collect_until_final,
    percent_of,
    recv_until_state,
    signed_in_as,
    state_of,
    wait_for,
    worker_pid_running,
    ws_connect,
)
from tests.worker_tasks import gated_demo_job_task, progress_loop_task


def test_task_row_exists_while_pending_with_its_launcher(transactional_db, bob):
    # No worker consumes the "parked" queue, so the task stays queued.
    result = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": bob.pk})
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == states.PENDING
    assert row.task_name == "dashboard.tasks.demo_job_task"
    assert TaskLaunch.objects.get(task_id=result.id).launched_by == bob


async def queue_a_parked_demo_job(request):
    """An async view queueing a task, as the site's async views may: before_task_publish then runs
    with an event loop in the thread, where the ORM refuses to work."""
    user = await request.auser()
    result = demo_job_task.apply_async((2, 0), queue="parked", headers={"launched_by": user.pk})
    return JsonResponse({"task_id": result.id})


urlpatterns = [path("queue-from-async-view/", queue_a_parked_demo_job), path("", include("site_config.urls"))]


@pytest.mark.urls(__name__)
def test_task_queued_from_an_async_view_gets_its_pending_row_and_launcher(transactional_db, bob, monkeypatch):
    client = AsyncClient()
    client.force_login(bob)

    async def request_then_close_connections():
        try:
            return await client.get("/queue-from-async-view/")
        finally:  # the threads that ran ORM calls for the view keep their connections: close them
            await sync_to_async(connections.close_all)()
            await asyncio.get_running_loop().run_in_executor(live_signals._executor, connections.close_all)

    # As under daphne: no permission for ORM calls made on the event loop.
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE")
    with ThreadPoolExecutor(max_workers=1) as executor:
        response = executor.submit(asyncio.run, request_then_close_connections()).result()
    monkeypatch.undo()
    assert response.status_code == 200
    task_id = response.json()["task_id"]
    row = TaskResult.objects.get(task_id=task_id)
    assert (row.status, row.task_name) == (states.PENDING, "dashboard.tasks.demo_job_task")
    launch = TaskLaunch.objects.get(task_id=task_id)
    assert (launch.launched_by, launch.args, launch.queue) == (bob, [2, 0], "parked")
    assert TaskEvent.objects.filter(task_id=task_id, kind="queued").exists()


def test_watcher_sees_queued_then_started_then_progress_in_order_then_success(live_worker, daphne_server, alice, gate):
    cookie = session_cookie(alice)
    parked = ParkedQueue()
    result = gated_demo_job_task.apply_async((4, 0), {"gate_key": gate.key}, queue=parked.name,
                                             headers={"launched_by": alice.pk})
    try:
        with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws, \
                ws_connect(daphne_server, "/ws/tasks/", cookie) as list_ws:
            assert state_of(ws.recv(timeout=5)) == "PENDING"  # the snapshot first; nobody reads its queue yet
            assert f'id="task-row-{result.id}"' in list_ws.recv(timeout=5)
            parked.start_consuming()
            assert [state_of(m) for m in recv_until_state(ws, "STARTED")] == ["STARTED"]
            gate.open_to(1)  # one step: the first report always goes out, and the job waits again
            first_step = ws.recv(timeout=10)
            assert (state_of(first_step), percent_of(first_step)) == ("PROGRESS", "25%")
            gate.open()
            messages = collect_until_final(ws)
    finally:
        parked.stop_consuming()
    percents = [int(p.rstrip("%")) for p in map(percent_of, [first_step, *messages]) if p and p.endswith("%")]
    assert state_of(messages[-1]) == "SUCCESS"
    assert percents == sorted(percents), "progress went backwards"
    assert percents[-1] == 100
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == states.SUCCESS
    assert '"steps": 4' in row.result
    launch = wait_for(lambda: TaskLaunch.objects.filter(task_id=result.id, runtime__isnull=False).first())
    assert launch.runtime == pytest.approx((row.date_done - row.date_started).total_seconds(), abs=0.01)


def test_failure_is_pushed_to_the_member_without_traceback_and_to_staff_with_it(live_worker, daphne_server, alice,
                                                                               bob, gate):
    result = gated_demo_job_task.delay_for(bob, 4, 0, 2, gate_key=gate.key)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(bob)) as member_ws, \
            ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as staff_ws:
        # Both are watching before the job can fail, so what they get is the pushed message.
        assert state_of(member_ws.recv(timeout=5)) in ("PENDING", "STARTED")
        assert state_of(staff_ws.recv(timeout=5)) in ("PENDING", "STARTED")
        gate.open()
        member_final = collect_until_final(member_ws)[-1]
        staff_final = collect_until_final(staff_ws)[-1]
    assert state_of(member_final) == state_of(staff_final) == "FAILURE"
    assert "demo job failed at step 2" in member_final
    assert "Traceback" not in member_final, "members must not see tracebacks"
    assert "Traceback" in staff_final and "DemoJobError" in staff_final
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
        snapshot = ws.recv(timeout=5)
    assert state_of(snapshot) == "FAILURE"
    assert "Traceback" in snapshot and "DemoJobError" in snapshot


def test_reconnecting_client_first_gets_the_current_state(live_worker, daphne_server, alice, gate):
    cookie = session_cookie(alice)
    result = gated_demo_job_task.delay_for(alice, 4, 0, gate_key=gate.key)
    gate.open_to(1)  # the job reports step 1 of 4, then waits
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        recv_until_state(ws, "PROGRESS")
    # Dropped mid-run; the new connection's first message is read from the database.
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        first = ws.recv(timeout=5)
        assert (state_of(first), percent_of(first)) == ("PROGRESS", "25%")
        gate.open()
        collect_until_final(ws)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        first = ws.recv(timeout=5)
    assert state_of(first) == "SUCCESS"
    assert percent_of(first) == "100%"


def test_anonymous_and_members_are_refused_the_staff_task_list_socket(daphne_server, transactional_db, bob):
    with pytest.raises(InvalidStatus) as anonymous:
        ws_connect(daphne_server, "/ws/tasks/")
    assert anonymous.value.response.status_code == 403
    cookie = session_cookie(bob)
    assert signed_in_as(daphne_server, cookie) == "bob"  # refused as a member, not as a stranger
    with pytest.raises(InvalidStatus) as member:
        ws_connect(daphne_server, "/ws/tasks/", cookie)
    assert member.value.response.status_code == 403


def test_member_cannot_open_other_members_task_socket(daphne_server, transactional_db, bob, charlie):
    result = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": bob.pk})
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(bob)) as ws:
        assert state_of(ws.recv(timeout=5)) == "PENDING"
    charlies = session_cookie(charlie)
    assert signed_in_as(daphne_server, charlies) == "charlie"
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{result.id}/", charlies)
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{result.id}/")


def test_socket_from_a_foreign_origin_is_refused(daphne_server, transactional_db, alice):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(daphne_server, "/ws/tasks/", session_cookie(alice), origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with ws_connect(daphne_server, "/ws/tasks/", session_cookie(alice)) as ws:
        assert 'id="task-rows"' in ws.recv(timeout=5)


def test_throttled_100000_report_loop_pushes_few_reports_and_the_final_state(live_worker, daphne_server, alice, gate):
    result = progress_loop_task.delay_for(alice, 100_000, gate_key=gate.key)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
        assert state_of(ws.recv(timeout=5)) in ("PENDING", "STARTED")  # watching before the loop runs
        gate.open()
        messages = collect_until_final(ws)
    outcome = result.get(timeout=30)
    assert outcome["iterations"] == 100_000
    assert 2 <= outcome["reports_sent"] <= 200, outcome
    pushed_progress = [m for m in messages if state_of(m) == "PROGRESS"]
    assert len(pushed_progress) <= outcome["reports_sent"]
    assert state_of(messages[-1]) == "SUCCESS"
    assert percent_of(messages[-1]) == "100%"


def test_task_survives_its_worker_process_dying_mid_run(live_worker, transactional_db, alice, gate):
    result = gated_demo_job_task.delay_for(alice, 3, 0, gate_key=gate.key)
    gate.open_to(1)  # step 1 runs; the job then waits at step 2, on a worker process we kill
    wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists())
    pid = wait_for(lambda: worker_pid_running(result.id))
    os.kill(pid, signal.SIGKILL)
    # Late acknowledgement: the broker hands the job to another process, which starts it afresh.
    wait_for(lambda: TaskEvent.objects.filter(task_id=result.id, kind="started").count() == 2, timeout=60)
    assert TaskResult.objects.get(task_id=result.id).status != states.SUCCESS
    gate.open()
    wait_for(lambda: TaskResult.objects.get(task_id=result.id).status == states.SUCCESS, timeout=60)
    assert json.loads(TaskResult.objects.get(task_id=result.id).result) == {"steps": 3}


def test_queueing_with_the_broker_down_records_the_task_as_failed_with_the_reason(transactional_db, alice):
    from kombu.exceptions import OperationalError

    from site_config.celery import app
    from site_config.devtools.local_redis import free_port

    dead_broker = app.connection_for_write(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(OperationalError):
        demo_job_task.apply_async((3, 0), connection=dead_broker, headers={"launched_by": alice.pk},
                                  retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1})
    row = TaskResult.objects.get(task_name="dashboard.tasks.demo_job_task")
    assert row.status == states.FAILURE
    assert "could not reach the broker" in row.traceback


def test_demo_job_form_refuses_a_job_longer_than_the_broker_would_wait_for(client, transactional_db, alice):
    client.force_login(grant(alice, "dashboard.start_demo_job"))
    response = client.post("/dashboard/tasks/demo/", {"steps": 1000, "delay_ms": 5000})
    assert response.status_code == 400
    assert "keep it under 1800 s" in response.content.decode()
    assert not TaskResult.objects.exists()
