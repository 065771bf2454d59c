"""Lost tasks judged by Redis's clock: a worker that sweeps with its clock 45 s ahead (faketime)
declares no healthy task lost, and declares a task whose worker died lost within 60 s."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest
from celery import states
from django_celery_results.models import TaskResult

from dashboard.models import TaskEvent
from dashboard.monitor.lost import tasks_lost_sweep
from dashboard.tasks import lost_tasks_sweep_task
from site_config.ops.liveness import redis_client, running_task_ids
from tests.conftest import BIN, Process, child_env, start_worker
from tests.livetools import wait_for
from tests.worker_tasks import gated_demo_job_task, progress_loop_task

pytestmark = [
    pytest.mark.live,
    pytest.mark.serial,
    pytest.mark.skipif(shutil.which("faketime") is None and not os.environ.get("CI"),
                       reason="Debian's faketime is missing: `make system-deps` installs it"),
]

SWEEP_QUEUE = "sweeps-ahead"


@pytest.fixture
def sweeper_ahead(transactional_db):
    """A worker whose clock (not its monotonic clock) runs 45 s ahead, consuming only the sweeps sent to it."""
    process = Process(
        "worker-ahead",
        ["faketime", "-f", "+45s", str(BIN / "celery"), "--app", "site_config", "worker", "--loglevel", "INFO",
         "--pool", "solo", "--hostname", "ahead@%h", "--without-mingle", "--without-gossip", "-Q", SWEEP_QUEUE],
        child_env(FAKETIME_DONT_FAKE_MONOTONIC="1"),
    )
    process.wait_for_log("ready.")
    yield process
    process.stop()


def _sweep_ahead() -> list[str]:
    """One lost-task sweep run by the worker whose clock is ahead; the ids it declared lost."""
    result = lost_tasks_sweep_task.apply_async(queue=SWEEP_QUEUE)
    return result.get(timeout=30)["lost"]


def test_sweeper_with_its_clock_45s_ahead_declares_no_healthy_task_lost(sweeper_ahead, gate):
    # A worker that writes its heartbeat every 20 s: a task it starts now stays unclaimed for a while,
    # the window in which sweeps on two clocks could disagree about how long it has been unclaimed.
    worker = start_worker("worker-healthy", "--queues", "healthy", env={"WORKER_HEARTBEAT_SECONDS": "20"})
    try:
        client = redis_client()
        result = gated_demo_job_task.apply_async((3, 0), {"gate_key": gate.key}, queue="healthy")
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status=states.STARTED).exists(), timeout=20)
        assert result.id not in running_task_ids(client), "already claimed: this test would prove nothing"
        assert tasks_lost_sweep(client=client) == []  # a sweep on this host's clock starts the count
        for _ in range(3):
            assert _sweep_ahead() == []
            time.sleep(1)
        gate.open()
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status=states.SUCCESS).exists(), timeout=30)
        assert not TaskEvent.objects.filter(task_id=result.id, kind="lost").exists()
    finally:
        worker.stop()


def test_task_of_a_killed_worker_is_declared_lost_within_60s_by_a_sweeper_ahead(sweeper_ahead, gate):
    # Not acks_late, so it is declared lost and not sent again; the defaults decide the timing.
    worker = start_worker("worker-killed", "--queues", "doomed")
    try:
        client = redis_client()
        result = progress_loop_task.apply_async((10,), {"gate_key": gate.key}, queue="doomed")
        wait_for(lambda: result.id in running_task_ids(client), timeout=30)
        os.killpg(worker.popen.pid, signal.SIGKILL)
        worker.popen.wait()
        killed = time.monotonic()
        declared = []
        while not declared and time.monotonic() - killed < 65:
            declared = _sweep_ahead()
            time.sleep(2)
        took = time.monotonic() - killed
        assert declared == [result.id], f"not declared lost within {took:.0f} s"
        assert took < 60, f"declared lost {took:.0f} s after its worker died"
        row = TaskResult.objects.get(task_id=result.id)
        assert row.status == states.FAILURE and "worker lost" in row.traceback
    finally:
        worker.stop()
