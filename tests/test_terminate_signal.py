"""Terminate with a chosen signal, on the task page and in bulk, against the real worker: the signal
offered is the one the pool process receives; anything off the list is refused before any change."""

from __future__ import annotations

import pytest
from django_celery_results.models import TaskResult

from dashboard.models import TaskAction
from tests.conftest import grant, make_user
from tests.livetools import Gate, process_exists, wait_for, worker_pid_running
from tests.worker_tasks import gated_demo_job_task


@pytest.fixture
def operator(db):
    return grant(make_user("tess", staff=True), "dashboard.act_on_tasks")


def running_task(user, gate) -> tuple[str, int]:
    task = gated_demo_job_task.delay_for(user, 2, 0, gate_key=gate.key)
    gate.open_to(1)  # step 1 runs, then the job waits at step 2
    wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status="PROGRESS").exists(), timeout=30)
    return task.id, wait_for(lambda: worker_pid_running(task.id), timeout=30)


def test_task_page_offers_the_signals_and_sends_the_chosen_one(live_worker, client, operator, gate):
    task_id, pid = running_task(operator, gate)
    client.force_login(operator)
    confirm = client.get(f"/dashboard/tasks/{task_id}/terminate/").content.decode()
    assert '<input type="radio" name="signal" value="SIGTERM" checked>' in confirm
    assert 'value="SIGKILL"' in confirm and 'value="SIGINT"' in confirm
    assert client.post(f"/dashboard/tasks/{task_id}/terminate/", {"signal": "SIGKILL"}).status_code == 302
    assert TaskResult.objects.get(task_id=task_id).status == "REVOKED"
    assert TaskAction.objects.get(task_id=task_id, kind="terminate").note == "signal SIGKILL"
    # The worker's own account names the signal it sent (9, SIGKILL), and the process running it is gone.
    wait_for(lambda: f"Terminating {task_id} (9)" in live_worker.log(), timeout=30)
    wait_for(lambda: not process_exists(pid), timeout=30)


def test_a_signal_off_the_list_is_refused_and_nothing_changes(live_worker, client, operator, gate):
    task_id, pid = running_task(operator, gate)
    client.force_login(operator)
    response = client.post(f"/dashboard/tasks/{task_id}/terminate/", {"signal": "SIGSTOP"})
    assert response.status_code == 400 and "Choose one of the signals offered." in response.content.decode()
    assert TaskResult.objects.get(task_id=task_id).status == "PROGRESS"
    assert not TaskAction.objects.exists() and process_exists(pid)
    gate.open()
    wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists(), timeout=30)


def test_bulk_terminate_counts_confirms_and_sends_the_chosen_signal_to_every_running_task(live_worker, client, operator):
    gates = [Gate(), Gate()]
    try:
        running = [running_task(operator, gate) for gate in gates]
        client.force_login(operator)
        confirm = client.get("/dashboard/tasks/bulk/", {"action": "terminate", "state": "PROGRESS"}).content.decode()
        assert "Terminate 2 tasks?" in confirm and 'value="SIGINT"' in confirm
        done = client.post("/dashboard/tasks/bulk/", {"action": "terminate", "state": "PROGRESS", "confirm": "yes",
                                                      "signal": "SIGINT"})
        assert done.status_code == 302
        for task_id, pid in running:
            assert TaskResult.objects.get(task_id=task_id).status == "REVOKED"
            assert TaskAction.objects.get(task_id=task_id).note == "signal SIGINT"
            wait_for(lambda: f"Terminating {task_id} (2)" in live_worker.log(), timeout=30)
    finally:
        for gate in gates:
            gate.open()


def test_a_real_soft_time_limit_still_fails_the_task_only_a_dashboard_terminate_revokes_it(live_worker, gate):
    # The same SoftTimeLimitExceeded a SIGUSR1 terminate raises, with no terminate recorded: a failure.
    task = gated_demo_job_task.apply_async((2, 0), {"gate_key": gate.key}, soft_time_limit=1)
    row = wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status__in=["FAILURE", "REVOKED"]).first(),
                   timeout=30)
    assert row.status == "FAILURE" and "SoftTimeLimitExceeded" in (row.result or "")
