"""A real Celery beat (the leased DatabaseScheduler) and a real worker: schedules fire, and dashboard changes
reach the running beat without a restart."""

from __future__ import annotations

import json
import re

import pytest
from celery import states
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from dashboard.models import ScheduleChange
from tests.conftest import BIN, Process, child_env, session_cookie
from tests.livetools import wait_for, ws_connect

pytestmark = pytest.mark.live


@pytest.fixture
def alice(db):
    """Staff with django-celery-beat's "change periodic task" permission (needed to change schedules)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    user = make_user("alice", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_periodictask"))
    return user


@pytest.fixture
def beat(live_worker):
    process = Process(
        "beat",
        [str(BIN / "celery"), "--app", "site_config", "beat", "--loglevel", "INFO", "--pidfile=",
         "--scheduler", "site_config.machinery.beat:LeasedDatabaseScheduler", "--max-interval", "1"],
        child_env(),
    )
    process.wait_for_log("beat: Starting...")
    yield process
    process.stop()


def _every_second(name: str, *, enabled: bool = True) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name, task="dashboard.tasks.demo_job_task", interval=interval, enabled=enabled,
        kwargs=json.dumps({"steps": 1, "delay_ms": 0}),
    )


def _runs(name: str) -> int:
    return TaskResult.objects.filter(periodic_task_name=name).count()


def _schedule_reloads(beat) -> int:
    """How many times this beat has reloaded its schedule after a change in the database."""
    return beat.log().count("DatabaseScheduler: Schedule changed.")


def test_schedule_every_second_fires_and_disabling_it_stops_it_without_restarting_beat(beat, client, alice):
    _every_second("marker")  # fires throughout: the proof that beat kept sending while "tick" did not
    pt = _every_second("tick")
    # Fires, runs on the worker, and the result is stored against the schedule's name.
    wait_for(lambda: TaskResult.objects.filter(periodic_task_name="tick", status=states.SUCCESS).count() >= 2, timeout=30)
    row = TaskResult.objects.filter(periodic_task_name="tick", status=states.SUCCESS).first()
    assert json.loads(row.result) == {"steps": 1}

    client.force_login(alice)
    reloads = _schedule_reloads(beat)
    response = client.post(reverse("dashboard:schedule_enable", args=[pt.pk]), {"enabled": "0"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    # Beat reloads its schedule at the start of a tick, before it sends anything more, and every
    # send writes its row (before_task_publish, in beat) before it returns: from the reload on,
    # the count of "tick" runs is final unless the disabled schedule still fires.
    wait_for(lambda: _schedule_reloads(beat) > reloads, timeout=15)
    settled, marker_runs = _runs("tick"), _runs("marker")
    wait_for(lambda: _runs("marker") >= marker_runs + 2, timeout=20)  # two more seconds of beat sending
    assert _runs("tick") == settled, "the disabled schedule kept firing"
    assert beat.popen.poll() is None  # the same beat process, never restarted

    # Enabled again from the dashboard, it fires again, still without a restart.
    client.post(reverse("dashboard:schedule_enable", args=[pt.pk]), {"enabled": "1"})
    wait_for(lambda: _runs("tick") > settled, timeout=20)


def test_run_now_queues_exactly_one_run_and_opens_its_live_page(live_worker, client, alice):
    pt = _every_second("manual-only", enabled=False)  # no beat here, and beat would never send it
    client.force_login(alice)
    response = client.post(reverse("dashboard:schedule_run", args=[pt.pk]))
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert response["Location"] == reverse("dashboard:task_detail", args=[task_id])
    # Every send writes its row before the message leaves (before_task_publish), so once the
    # request has answered, a second send would already show here.
    runs = TaskResult.objects.filter(periodic_task_name="manual-only").values_list("task_id", flat=True)
    assert list(runs) == [task_id]
    wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status=states.SUCCESS).exists(), timeout=30)
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Succeeded" in page.content.decode()


UNFINISHED = {states.PENDING, states.STARTED, "PROGRESS"}


def test_schedules_page_is_told_of_each_run_as_beat_sends_it(beat, daphne_server, alice):
    """Pushed from the run's own message headers (periodic_task_name) when beat sends it, not from
    PeriodicTask.last_run_at, which beat writes back only every few minutes."""
    with ws_connect(daphne_server, "/ws/schedules/", session_cookie(alice)) as ws:
        assert 'id="schedule-' in ws.recv(timeout=15)  # the snapshot: every schedule's run cells
        pt = _every_second("live-tick")
        cell = re.compile(rf'id="schedule-{pt.pk}-last-run".*?data-task-id="([^"]+)".*?data-state="(\w+)"', re.S)
        runs: set[str] = set()
        states_seen: set[str] = set()

        def two_runs_pushed():
            match = cell.search(ws.recv(timeout=30))
            if match:
                runs.add(match.group(1))
                states_seen.add(match.group(2))
            return len(runs) >= 2 and states.SUCCESS in states_seen and states_seen & UNFINISHED

        # Sent (beat's after_task_publish) and finished (the worker's task_postrun: succeeded). The cells
        # show the run's state when beat renders them: queued, or already started when the worker was
        # quicker (seen under load); only beat's push can show a run unfinished.
        wait_for(two_runs_pushed, timeout=60, interval=0)
    # Each pushed id is a run of that schedule, sent by beat (no one pressed "run now").
    assert set(TaskResult.objects.filter(task_id__in=runs).values_list("periodic_task_name", flat=True)) == {"live-tick"}
    assert not ScheduleChange.objects.filter(periodic_task_name="live-tick").exists()
