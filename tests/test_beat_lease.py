"""One active beat: the lease in Redis, a standby that touches no schedule row, and real beat
processes started from the Procfile's own `beat` line (two at once, the active one killed, a
one-off clocked schedule due around the takeover)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
from datetime import datetime, timedelta

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from site_config.celery import app
from site_config.devtools.supervisor import procfile_entries
from site_config.machinery.beat import LEASE_KEY, Lease, LeasedDatabaseScheduler
from tests.conftest import BASE_DIR, Process, child_env
from tests.livetools import wait_for
from tests.plugin import REDIS


@pytest.fixture
def client_redis():
    client = redis.Redis.from_url(REDIS.url)
    client.delete(LEASE_KEY)
    yield client
    client.delete(LEASE_KEY)
    client.close()


def test_lease_is_held_by_one_token_renewed_only_by_it_and_released_only_by_it(client_redis):
    first = Lease(client_redis, seconds=5)
    second = Lease(client_redis, seconds=5)
    assert first.hold()
    assert not second.hold()
    assert first.hold()  # renewed
    second.release()  # not the holder: nothing happens
    assert first.holder() == first.token
    first.release()
    assert second.hold() and second.holder() == second.token


def test_lease_expires_by_itself_when_its_holder_stops_renewing(client_redis):
    gone = Lease(client_redis, seconds=0.3)
    assert gone.hold()
    heir = Lease(client_redis, seconds=5)
    assert not heir.hold()
    wait_for(heir.hold, timeout=5, interval=0.05)


def _every_second(name: str) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name=name, task="dashboard.tasks.demo_job_task", interval=interval,
                                       kwargs=json.dumps({"steps": 1, "delay_ms": 0}))


def test_a_standby_scheduler_reads_and_writes_no_schedule_row_and_takes_over_when_the_lease_frees(transactional_db,
                                                                                                 client_redis):
    _every_second("standby-check")
    client_redis.set(LEASE_KEY, "another-beat", px=60_000)
    with CaptureQueriesContext(connection) as queries:
        scheduler = LeasedDatabaseScheduler(app=app, lazy=False, max_interval=1)
        for _ in range(3):
            assert scheduler.tick() == scheduler.standby_poll
        scheduler.sync()
    assert [q["sql"] for q in queries.captured_queries] == []
    assert not scheduler.active

    client_redis.delete(LEASE_KEY)
    scheduler.tick()
    assert scheduler.active and client_redis.get(LEASE_KEY).decode() == scheduler.lease.token
    assert "standby-check" in scheduler.schedule
    scheduler.close()
    assert client_redis.get(LEASE_KEY) is None  # released on a clean stop


class _ScheduleAddedWhileTakingOver(LeasedDatabaseScheduler):
    def install_default_entries(self, data):  # called right after the schedule's first read
        _every_second("added-meanwhile")  # as a staff member's save in another process would land
        super().install_default_entries(data)


def test_a_schedule_added_while_the_scheduler_takes_over_is_read_at_once(transactional_db, client_redis):
    # Seen under load: a beat that had just read the schedule never sent the schedules saved before its
    # first check for changes (django-celery-beat notes the last change at that first check).
    scheduler = _ScheduleAddedWhileTakingOver(app=app, lazy=False, max_interval=1)
    scheduler.tick()
    assert scheduler.active
    assert "added-meanwhile" in scheduler.schedule
    scheduler.close()


# --- real beat processes ---

BEAT_LINE = procfile_entries(BASE_DIR / "Procfile")["beat"]


def _start_beat(name: str) -> Process:
    """The Procfile's beat line, run as a process manager runs it, waking at least every second."""
    process = Process(name, ["/bin/sh", "-c", f"exec {BEAT_LINE} --max-interval 1"], child_env())
    process.wait_for_log("beat: Starting...")
    return process


def _kill(process: Process) -> None:
    os.killpg(process.popen.pid, signal.SIGKILL)
    process.popen.wait()


SENT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*Sending due task tick ", re.MULTILINE)


def _sends(process: Process, name: str) -> int:
    return process.log().count(f"Sending due task {name} ")


def _runs(name: str) -> list[TaskResult]:
    # Beat writes the row (before_task_publish) before each message leaves.
    return list(TaskResult.objects.filter(periodic_task_name=name).order_by("date_created"))


@pytest.fixture
def beats(transactional_db, client_redis):
    started: list[Process] = []

    def start(name: str) -> Process:
        process = _start_beat(name)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.mark.live
@pytest.mark.serial
def test_two_beats_send_each_tick_of_a_one_second_schedule_once(beats):
    first = beats("beat-a")
    first.wait_for_log("holding the lease")
    second = beats("beat-b")
    _every_second("tick")
    wait_for(lambda: len(_runs("tick")) >= 1, timeout=20)
    started = time.monotonic()
    time.sleep(30)
    elapsed = time.monotonic() - started
    runs = _runs("tick")
    assert "holding the lease" not in second.log()
    assert _sends(second, "tick") == 0
    assert _sends(first, "tick") == len(runs)
    # Once a second, never twice for one tick: consecutive sends (the active beat's own log times,
    # taken as it sends) at least half a second apart.
    sent_at = [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in SENT.findall(first.log())]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == len(runs) and min(gaps) > 0.5, gaps
    assert elapsed * 0.6 <= len(runs) <= elapsed + 3, (len(runs), elapsed)

    # A clean stop (SIGTERM, as in a deploy) hands the lease over at once: no lease to wait out.
    stopped = time.monotonic()
    first.stop()
    assert "beat: lease released" in first.log()
    second.wait_for_log("holding the lease", timeout=10)
    assert time.monotonic() - stopped < 5


@pytest.mark.live
@pytest.mark.serial
def test_killed_active_beat_standby_takes_over_within_15s_and_one_offs_around_the_takeover_run_once(beats):
    first = beats("beat-a")
    first.wait_for_log("holding the lease")
    second = beats("beat-b")
    _every_second("tick")
    wait_for(lambda: _sends(first, "tick") >= 2, timeout=20)

    # A one-off sent by the active beat just before it dies, with nothing written back afterwards.
    soon = ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(seconds=2))
    PeriodicTask.objects.create(name="sent-then-killed", task="dashboard.tasks.demo_job_task", clocked=soon,
                                one_off=True, kwargs=json.dumps({"steps": 1, "delay_ms": 0}))
    wait_for(lambda: _runs("sent-then-killed"), timeout=20, interval=0.02)
    _kill(first)
    killed_at = timezone.now()
    killed = time.monotonic()

    # A one-off due while no beat is active (the lease has not expired yet).
    during = ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(seconds=2))
    PeriodicTask.objects.create(name="due-in-takeover", task="dashboard.tasks.demo_job_task", clocked=during,
                                one_off=True, kwargs=json.dumps({"steps": 1, "delay_ms": 0}))

    wait_for(lambda: TaskResult.objects.filter(periodic_task_name="tick", date_created__gt=killed_at).exists(),
             timeout=30, interval=0.1)
    took = time.monotonic() - killed
    assert took <= 15, f"the standby sent its first tick {took:.1f} s after the active beat was killed"
    assert "holding the lease" in second.log()

    # The standby, now active, keeps ticking; the one-offs have each run once, whoever sent them.
    sent = _sends(second, "tick")
    wait_for(lambda: _sends(second, "tick") >= sent + 5, timeout=30)
    assert len(_runs("due-in-takeover")) == 1
    assert len(_runs("sent-then-killed")) == 1
    assert _sends(second, "sent-then-killed") == 0
