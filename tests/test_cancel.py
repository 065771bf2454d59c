"""Cancel: the launcher, or staff with the task-action permission, cancels a job from its page; a
running job stops at its next progress report and ends REVOKED "cancelled by <user>"; a queued one
never runs; everyone else is refused (another member: 404, staff without the permission: 403)."""

from __future__ import annotations

import uuid

import pytest
from celery import states
from django_celery_results.models import TaskResult

from dashboard.live.base_task import TaskCancelled
from dashboard.live.cancel import cancel_forget, cancel_request
from dashboard.models import TaskAction, TaskEvent
from dashboard.tasks import demo_job_task
from tests.conftest import grant, session_cookie
from tests.livetools import recv_until_state, wait_for, ws_connect
from tests.worker_tasks import gated_demo_job_task


def _final(task_id: str):
    return wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status__in=states.READY_STATES).first(),
                    timeout=30)


def _running_demo(user, gate):
    """A demo job of `user` that has reported step 1 and waits at its gate for step 2."""
    task = gated_demo_job_task.delay_for(user, 50, 20, gate_key=gate.key)
    gate.open_to(1)
    wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status="PROGRESS").exists(), timeout=30)
    return task.id


def test_the_cancel_flag_is_read_only_when_a_report_goes_out(db, settings):
    settings.PROGRESS_MIN_INTERVAL_MS = 60_000
    task = demo_job_task._get_current_object()  # any LiveTask: the test drives report_progress itself
    task_id = str(uuid.uuid4())
    task.push_request(id=task_id, called_directly=False)
    try:
        task.progress_begin()
        assert task.report_progress(1, 10, "first")  # the first report goes out
        cancel_request(task_id, who="bob")
        assert task.report_progress(2, 10, "too soon") is False  # suppressed: the flag is not looked at
        with pytest.raises(TaskCancelled) as cancelled:
            task.report_progress(10, 10, "final")  # the final report always goes out, and sees it
        assert cancelled.value.cancelled_by == "bob"
    finally:
        task.pop_request()
        cancel_forget(task_id)


def test_launcher_cancels_a_running_demo_job_which_ends_revoked_cancelled_by_them(client, live_worker, bob, gate):
    task_id = _running_demo(bob, gate)
    client.force_login(bob)
    page = client.get(f"/dashboard/tasks/{task_id}/").content.decode()
    assert f"/dashboard/tasks/{task_id}/cancel/" in page
    assert "Cancel the job" in client.get(f"/dashboard/tasks/{task_id}/cancel/").content.decode()  # confirmation
    assert client.post(f"/dashboard/tasks/{task_id}/cancel/").status_code == 302
    gate.open()
    row = _final(task_id)
    assert row.status == states.REVOKED  # not FAILURE
    assert TaskEvent.objects.filter(task_id=task_id, kind="revoked", detail="cancelled by bob").exists()
    assert not TaskEvent.objects.filter(task_id=task_id, kind__in=["failed", "succeeded"]).exists()
    assert TaskAction.objects.get(task_id=task_id).kind == "cancel"
    page = client.get(f"/dashboard/tasks/{task_id}/").content.decode()
    assert "Revoked: cancelled by bob." in page and f"/dashboard/tasks/{task_id}/cancel/" not in page
    # Cancelling again is refused with a reason, and changes nothing.
    response = client.post(f"/dashboard/tasks/{task_id}/cancel/", follow=True)
    assert "nothing to cancel" in response.content.decode()


def test_staff_with_the_permission_cancel_a_members_job_and_watchers_see_it(live_worker, daphne_server, alice, bob,
                                                                           gate):
    olivia = grant(alice, "dashboard.act_on_tasks")
    task_id = _running_demo(bob, gate)
    with ws_connect(daphne_server, f"/ws/tasks/{task_id}/", session_cookie(bob)) as ws:
        from dashboard.jobs.services import task_cancel

        assert task_cancel(user=olivia, task_id=task_id) == "requested"
        gate.open()
        messages = recv_until_state(ws, "REVOKED")
    assert "Revoked: cancelled by alice." in messages[-1]
    assert _final(task_id).status == states.REVOKED


def test_another_member_gets_404_and_staff_without_the_permission_403(client, live_worker, alice, bob, charlie,
                                                                      gate):
    task_id = _running_demo(bob, gate)
    client.force_login(charlie)
    assert client.get(f"/dashboard/tasks/{task_id}/cancel/").status_code == 404
    assert client.post(f"/dashboard/tasks/{task_id}/cancel/").status_code == 404
    client.force_login(alice)
    assert client.post(f"/dashboard/tasks/{task_id}/cancel/").status_code == 403
    assert f"/dashboard/tasks/{task_id}/cancel/" not in client.get(f"/dashboard/tasks/{task_id}/").content.decode()
    gate.open()
    assert _final(task_id).status == states.SUCCESS  # nobody cancelled it
    assert not TaskAction.objects.exists()


def test_cancelling_a_queued_job_revokes_it_at_once(client, transactional_db, bob):
    parked = demo_job_task.apply_async((2, 0), queue="parked", headers={"launched_by": bob.pk})
    client.force_login(bob)
    assert client.post(f"/dashboard/tasks/{parked.id}/cancel/").status_code == 302
    assert TaskResult.objects.get(task_id=parked.id).status == states.REVOKED
    assert TaskEvent.objects.filter(task_id=parked.id, kind="revoked",
                                    detail="cancelled by bob before it started").exists()
    assert TaskAction.objects.get(task_id=parked.id).kind == "cancel"  # before_start will refuse to run it
