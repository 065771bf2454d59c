"""Task progress stored through django-celery-results and pushed live over websockets."""

from __future__ import annotations

import os
import signal

import pytest
from celery import states
from django_celery_results.models import TaskResult
from websockets.exceptions import InvalidStatus

from dashboard.models import TaskLaunch
from dashboard.tasks import demo_job_task, progress_loop_task
from tests.conftest import grant, session_cookie
from tests.livetools import collect_until_final, percent_of, state_of, wait_for, ws_connect

pytestmark = pytest.mark.live


def test_task_row_exists_while_pending_with_its_launcher(transactional_db, bob):
    # No worker consumes the "parked" queue, so the task stays queued.
    result = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": bob.pk})
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == states.PENDING
    assert row.task_name == "dashboard.tasks.demo_job_task"
    assert TaskLaunch.objects.get(task_id=result.id).launched_by == bob


def test_progress_arrives_in_order_and_ends_in_success(live_worker, daphne_server, alice):
    cookie = session_cookie(alice)
    result = demo_job_task.apply_async((8, 60), queue="parked")  # parked first, so we watch from PENDING
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws, \
            ws_connect(daphne_server, "/ws/tasks/", cookie) as list_ws:
        assert state_of(ws.recv(timeout=5)) == "PENDING"  # the snapshot comes first
        list_snapshot = list_ws.recv(timeout=5)
        assert f'id="task-row-{result.id}"' in list_snapshot
        started = demo_job_task.delay_for(alice, 8, 60)
        with ws_connect(daphne_server, f"/ws/tasks/{started.id}/", cookie) as ws2:
            messages = collect_until_final(ws2)
    states_seen = [state_of(m) for m in messages]
    percents = [int(p.rstrip("%")) for p in map(percent_of, messages) if p and p.endswith("%")]
    assert states_seen[-1] == "SUCCESS"
    assert "PROGRESS" in states_seen
    assert percents == sorted(percents), "progress went backwards"
    assert percents[-1] == 100
    row = TaskResult.objects.get(task_id=started.id)
    assert row.status == states.SUCCESS
    assert '"steps": 8' in row.result
    launch = wait_for(lambda: TaskLaunch.objects.filter(task_id=started.id, runtime__isnull=False).first())
    assert launch.runtime == pytest.approx((row.date_done - row.date_started).total_seconds(), abs=0.01)


def test_failing_task_shows_failure_with_its_error(live_worker, daphne_server, alice, bob):
    result = demo_job_task.delay_for(bob, 4, 20, 2)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(bob)) as ws:
        final = collect_until_final(ws)[-1]
    assert state_of(final) == "FAILURE"
    assert "demo job failed at step 2" in final
    assert "Traceback" not in final, "members must not see tracebacks"
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
        snapshot = ws.recv(timeout=5)
    assert state_of(snapshot) == "FAILURE"
    assert "Traceback" in snapshot and "DemoJobError" in snapshot


def test_reconnecting_client_first_gets_the_current_state(live_worker, daphne_server, alice):
    cookie = session_cookie(alice)
    result = demo_job_task.delay_for(alice, 30, 50)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        wait_for(lambda: state_of(ws.recv(timeout=10)) == "PROGRESS")
    # Dropped mid-run; the new connection's first message is read from the database.
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        first = ws.recv(timeout=5)
        assert state_of(first) in ("PROGRESS", "SUCCESS")
        collect_until_final(ws)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as ws:
        first = ws.recv(timeout=5)
    assert state_of(first) == "SUCCESS"
    assert percent_of(first) == "100%"


def test_anonymous_and_members_are_refused_the_staff_task_list_socket(daphne_server, transactional_db, bob):
    with pytest.raises(InvalidStatus) as anonymous:
        ws_connect(daphne_server, "/ws/tasks/")
    assert anonymous.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as member:
        ws_connect(daphne_server, "/ws/tasks/", session_cookie(bob))
    assert member.value.response.status_code == 403


def test_member_cannot_open_other_members_task_socket(daphne_server, transactional_db, bob, charlie):
    result = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": bob.pk})
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(bob)) as ws:
        assert state_of(ws.recv(timeout=5)) == "PENDING"
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(charlie))
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{result.id}/")


def test_socket_from_a_foreign_origin_is_refused(daphne_server, transactional_db, alice):
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(daphne_server, "/ws/tasks/", session_cookie(alice), origin="https://evil.example")
    assert refused.value.response.status_code == 403
    with ws_connect(daphne_server, "/ws/tasks/", session_cookie(alice)) as ws:
        assert 'id="task-rows"' in ws.recv(timeout=5)


def test_throttled_100000_report_loop_sends_few_reports_and_the_final_state(live_worker, daphne_server, alice):
    result = progress_loop_task.delay_for(alice, 100_000)
    with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", session_cookie(alice)) as ws:
        messages = collect_until_final(ws)
    outcome = result.get(timeout=30)
    assert outcome["iterations"] == 100_000
    assert 2 <= outcome["reports_sent"] <= 200, outcome
    assert state_of(messages[-1]) == "SUCCESS"
    assert percent_of(messages[-1]) == "100%"


def test_task_survives_its_worker_process_dying_mid_run(live_worker, transactional_db, alice):
    result = demo_job_task.delay_for(alice, 40, 100)
    row = wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").first())
    pid = wait_for(lambda: _worker_child_pid(row.task_id))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: TaskResult.objects.get(task_id=result.id).status == states.SUCCESS, timeout=60)


def _worker_child_pid(task_id: str) -> int | None:
    from site_config.celery import app

    active = app.control.inspect(timeout=2).active() or {}
    for tasks in active.values():
        for task in tasks:
            if task["id"] == task_id:
                return task.get("worker_pid")
    return None


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
