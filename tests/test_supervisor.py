"""`make run`'s supervisor, with real processes: restarts what exits, gives up on a crash loop with
the reason, and on Ctrl-C lets the worker finish its running job."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from celery import states
from django_celery_results.models import TaskResult

from dashboard.tasks import demo_job_task
from site_config.devtools.supervisor import procfile_entries
from tests.conftest import BASE_DIR, child_env
from tests.livetools import wait_for
from tests.plugin import WORKDIR

pytestmark = pytest.mark.live


def _supervise(procfile_text: str, name: str, **env) -> tuple[subprocess.Popen, object]:
    procfile = WORKDIR / f"{name}.Procfile"
    procfile.write_text(procfile_text)
    log_path = WORKDIR / f"{name}.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "site_config.devtools.supervisor", "--procfile", str(procfile)],
        env=child_env(SUPERVISOR_BACKOFF_START="0.1", **env), cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log_path


def test_procfile_lines_are_read_in_order():
    entries = procfile_entries(BASE_DIR / "Procfile")
    assert list(entries)[:3] == ["web", "worker", "beat"]
    assert entries["worker"].startswith("env REMAP_SIGTERM=SIGQUIT celery --app site_config worker")


def test_a_process_that_exits_is_started_again_and_ctrl_c_stops_everything():
    marker = WORKDIR / "crashed-once"
    marker.unlink(missing_ok=True)
    process, log_path = _supervise(
        f"once: if [ -e {marker} ]; then exec sleep 600; else touch {marker}; exit 4; fi\n"
        "steady: exec sleep 600\n", "supervisor-restart")
    try:
        wait_for(lambda: log_path.read_text().count("once.1 started") == 2, timeout=20)
        assert "once.1 exited with code 4; starting it again" in log_path.read_text()
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        text = log_path.read_text()
        assert "once.1 stopped" in text and "steady.1 stopped" in text
    finally:
        if process.poll() is None:
            process.kill()


def test_a_crash_loop_stops_everything_and_says_why():
    process, log_path = _supervise("broken: echo 'cannot start: no such thing' && exit 3\nsteady: exec sleep 600\n",
                                   "supervisor-crash-loop")
    try:
        assert process.wait(timeout=60) == 1
        text = log_path.read_text()
        assert "broken.1 exited 5 times" in text and "cannot start: no such thing" in text
        assert "steady.1 stopped" in text
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_during_a_job_lets_the_worker_finish_it(transactional_db):
    entries = procfile_entries(BASE_DIR / "Procfile")
    worker_line = entries["worker"].replace("--hostname worker@%h", "--hostname supervised@%h")
    process, log_path = _supervise(f"worker: {worker_line} --queues supervised\n", "supervisor-warm")
    try:
        wait_for(lambda: "ready." in log_path.read_text(), timeout=30)
        result = demo_job_task.apply_async((12, 250), queue="supervised")  # about 3 s
        wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="PROGRESS").exists(), timeout=20)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)  # what the terminal's Ctrl-C sends to `make run`
        assert process.wait(timeout=60) == 0
        row = TaskResult.objects.get(task_id=result.id)
        assert row.status == states.SUCCESS, log_path.read_text()[-3000:]
        assert '"steps": 12' in row.result
        assert time.monotonic() - started < 30
        assert "Warm shutdown" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
