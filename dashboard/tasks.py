"""Dashboard tasks: the demo job that shows live progress to newcomers, exports (written for one
person, dashboard/exports/), and the jobs scheduled in settings.PERIODIC_TASKS: the daily report, the
task-result clean-up, the lost-task sweep and the removal of expired exports."""

import time
from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from dashboard.monitor.lost import tasks_lost_sweep, tasks_unqueued_sweep
from dashboard.monitor.maintenance import task_results_cleanup
from dashboard.reports.services import daily_report_build, yesterday


class DemoJobError(RuntimeError):
    """Raised on purpose when the demo job is asked to fail."""


class GateTimeout(RuntimeError):
    """A gated job waited longer than it was allowed to for its gate to open."""


#: How often a gated job looks at its gate.
GATE_POLL_SECONDS = 0.05


def wait_at_gate(key: str, step: int, *, timeout: float) -> None:
    """Return once the number stored in the cache at `key` is at least `step`.

    Whoever holds the key decides how far a job may go: a test parks a job at a known step, looks
    at what watchers see there, then lets it go on, instead of racing a job that is merely short.
    The wait is bounded so a forgotten gate cannot hold a worker process for ever.
    """
    deadline = time.monotonic() + timeout
    while int(cache.get(key) or 0) < step:
        if time.monotonic() > deadline:
            raise GateTimeout(f"gate {key!r} was not opened to step {step} within {timeout} s")
        time.sleep(GATE_POLL_SECONDS)


# Safe to run again from the start, so late acknowledgement: if the worker process dies mid-job,
# the broker re-delivers it to another process instead of losing it.
# What may be given from outside (run form, API, schedules; dashboard/workers/launch.py checks it):
# each task's `launch_arguments` names the arguments and their bounds (a bound may be a function that reads a setting);
# a task without it takes no arguments from outside. gate_key, gate_timeout and stamp are for tests
# and benchmarks, which call the task directly.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, launch_arguments={
    "steps": {"type": "int", "min": 1, "max": lambda: settings.DEMO_JOB_MAX_STEPS},
    "delay_ms": {"type": "int", "min": 0, "max": lambda: settings.DEMO_JOB_MAX_DELAY_MS},
    "fail_at_step": {"type": "int", "min": 1, "max": lambda: settings.DEMO_JOB_MAX_STEPS, "null": True},
})
def demo_job_task(self, steps: int, delay_ms: int, fail_at_step: int | None = None,
                  gate_key: str | None = None, gate_timeout: float = 60.0, stamp: bool = False) -> dict:
    """`steps` steps of `delay_ms` each, reporting progress after each. With `gate_key`, step N
    starts only once the gate admits N (see wait_at_gate). `stamp` adds the report's wall-clock time
    to its message, so a benchmark's clients can measure how long the report took to reach them."""
    for step in range(1, steps + 1):
        if gate_key:
            wait_at_gate(gate_key, step, timeout=gate_timeout)
        time.sleep(delay_ms / 1000)
        if fail_at_step and step == fail_at_step:
            raise DemoJobError(f"demo job failed at step {step} as requested")
        self.report_progress(step, steps, f"step {step} of {steps}" + (f" · t={time.time():.3f}" if stamp else ""))
    return {"steps": steps}


@shared_task(bind=True, launch_arguments={"iterations": {"type": "int", "min": 1, "max": 1_000_000}})
def progress_loop_task(self, iterations: int, gate_key: str | None = None, gate_timeout: float = 60.0) -> dict:
    """Calls report_progress once per iteration of a tight loop (throttling check and benchmark).
    With `gate_key`, the loop starts once the gate admits step 1 (see wait_at_gate)."""
    if gate_key:
        wait_at_gate(gate_key, 1, timeout=gate_timeout)
    sent = 0
    total = 0
    for i in range(1, iterations + 1):
        total += i % 7  # a little real work per iteration
        if self.report_progress(i, iterations, "looping"):
            sent += 1
    return {"iterations": iterations, "reports_sent": sent, "checksum": total}


@shared_task(bind=True, launch_arguments={"day": {"type": "date", "null": True}})
def daily_report_task(self, day: str | None = None) -> dict:
    """Build the report for `day` (ISO date; default yesterday in the site time zone)."""
    report = daily_report_build(day=date.fromisoformat(day) if day else yesterday())
    return {"day": report.day.isoformat(), "report_id": report.pk, "tasks_total": report.tasks_total}


# Results younger than a day are never the clean-up's business (members follow their own tasks).
@shared_task(bind=True, launch_arguments={"max_age_days": {"type": "int", "min": 1, "max": 3650, "null": True}})
def cleanup_task_results_task(self, max_age_days: int | None = None) -> dict:
    """Delete task results older than max_age_days (default settings.TASK_RESULT_MAX_AGE_DAYS)."""
    if max_age_days is not None and max_age_days < 1:  # a schedule stored before its arguments were checked
        raise ValueError(f"max_age_days must be at least 1, not {max_age_days}.")
    return task_results_cleanup(
        older_than=timedelta(days=max_age_days or settings.TASK_RESULT_MAX_AGE_DAYS),
        batch_size=settings.TASK_RESULT_CLEANUP_BATCH_SIZE,
        on_batch=lambda done, total: self.report_progress(done, total, f"batch {done} of {total}"),
    )


@shared_task(bind=True)
def lost_tasks_sweep_task(self) -> dict:
    """Tasks whose worker is gone, or whose message the broker lost: marked failed with the reason,
    sent again when safe."""
    return {"lost": tasks_lost_sweep(), "messages_lost": tasks_unqueued_sweep()}


@shared_task(bind=True)
def export_write_task(self, export_id: int, gate_key: str | None = None, gate_timeout: float = 60.0) -> dict:
    """Write one export (dashboard.exports.services). With `gate_key`, batch N reports its progress
    once the gate admits N (see wait_at_gate). Cancelled: the partial file is removed, the export says
    so, and the task ends revoked."""
    from dashboard.exports.services import export_mark_cancelled, export_write

    after_batch = (lambda number: wait_at_gate(gate_key, number, timeout=gate_timeout)) if gate_key else None
    try:
        return export_write(export_id=export_id, progress=self.report_progress, after_batch=after_batch)
    except self.Cancelled:
        export_mark_cancelled(export_id=export_id)  # export_write already removed the partial file
        raise


@shared_task(bind=True)
def exports_cleanup_task(self) -> dict:
    """Export files past their expiry, and their rows, are deleted."""
    from dashboard.exports.services import exports_cleanup

    return {"removed": exports_cleanup()}
