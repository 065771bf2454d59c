"""My tasks: a member sees the jobs they launched, live, with the task list's rows; another member's
tasks never reach their page or their socket (and another member's task page is a 404)."""

from __future__ import annotations

import pytest
from celery import states
from django_celery_results.models import TaskResult
from websockets.exceptions import InvalidStatus

from dashboard.tasks import demo_job_task
from tests.conftest import session_cookie
from tests.livetools import signed_in_as, state_of, wait_for, ws_connect


def _final(task_id: str):
    return wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status__in=states.READY_STATES).first(),
                    timeout=30)


def test_my_tasks_lists_only_the_members_own_jobs_and_is_in_the_navigation(client, transactional_db, bob, charlie):
    mine = demo_job_task.apply_async((2, 0), queue="parked", headers={"launched_by": bob.pk})
    theirs = demo_job_task.apply_async((2, 0), queue="parked", headers={"launched_by": charlie.pk})
    client.force_login(bob)
    page = client.get("/dashboard/my-tasks/").content.decode()
    assert f'id="task-row-{mine.id}"' in page
    assert theirs.id not in page
    assert 'href="/dashboard/my-tasks/"' in page  # the navigation, for every signed-in user
    assert client.get(f"/dashboard/tasks/{theirs.id}/").status_code == 404
    client.logout()
    assert client.get("/dashboard/my-tasks/").status_code == 302


def test_my_tasks_socket_carries_the_members_rows_live_and_never_anothers(live_worker, daphne_server, bob, charlie):
    cookie = session_cookie(bob)
    assert signed_in_as(daphne_server, cookie) == "bob"
    earlier = demo_job_task.delay_for(bob, 1, 0)
    _final(earlier.id)
    with ws_connect(daphne_server, "/ws/my-tasks/", cookie) as ws:
        snapshot = ws.recv(timeout=10)
        assert 'id="my-task-rows"' in snapshot and f'id="task-row-{earlier.id}"' in snapshot
        theirs = demo_job_task.delay_for(charlie, 2, 0)
        _final(theirs.id)
        mine = demo_job_task.delay_for(bob, 3, 10)
        received = []
        while not any(f'id="task-row-{mine.id}"' in m and state_of(m) == "SUCCESS" for m in received):
            received.append(ws.recv(timeout=30))
    assert any('hx-swap-oob="afterbegin:#my-task-rows"' in m and mine.id in m for m in received)  # inserted first
    assert not any(theirs.id in m for m in received)


def test_another_members_task_socket_and_anonymous_my_tasks_socket_are_refused(daphne_server, transactional_db, bob,
                                                                              charlie):
    theirs = demo_job_task.apply_async((2, 0), queue="parked", headers={"launched_by": charlie.pk})
    cookie = session_cookie(bob)
    assert signed_in_as(daphne_server, cookie) == "bob"
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, f"/ws/tasks/{theirs.id}/", cookie)
    with pytest.raises(InvalidStatus):
        ws_connect(daphne_server, "/ws/my-tasks/")
