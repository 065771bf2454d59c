"""Dashboard tasks: the demo job that shows live progress to newcomers, and the jobs scheduled in
settings.PERIODIC_TASKS: the daily report, the task-result clean-up and the lost-task sweep."""

import time
from datetime import date, timedelta

from celery import shared_task
from django.conf import settings

from dashboard.monitor.lost import tasks_lost_sweep, tasks_unqueued_sweep
from dashboard.monitor.maintenance import task_results_cleanup
from dashboard.reports.services import daily_report_build, yesterday


class DemoJobError(RuntimeError):
    """Raised on purpose when the demo job is asked to fail."""


# Safe to run again from the start, so late acknowledgement: if the worker process dies mid-job,
# the broker re-delivers it to another process instead of losing it.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def demo_job_task(self, steps: int, delay_ms: int, fail_at_step: int | None = None, stamp: bool = False) -> dict:
    """`stamp` adds the report's wall-clock time to its message, so a benchmark's clients can measure
    how long the report took to reach them."""
    for step in range(1, steps + 1):
        time.sleep(delay_ms / 1000)
        if fail_at_step and step == fail_at_step:
            raise DemoJobError(f"demo job failed at step {step} as requested")
        self.report_progress(step, steps, f"step {step} of {steps}" + (f" · t={time.time():.3f}" if stamp else ""))
    return {"steps": steps}


@shared_task(bind=True)
def progress_loop_task(self, iterations: int) -> dict:
    """Calls report_progress once per iteration of a tight loop (throttling check and benchmark)."""
    sent = 0
    total = 0
    for i in range(1, iterations + 1):
        total += i % 7  # a little real work per iteration
        if self.report_progress(i, iterations, "looping"):
            sent += 1
    return {"iterations": iterations, "reports_sent": sent, "checksum": total}


@shared_task(bind=True)
def daily_report_task(self, day: str | None = None) -> dict:
    """Build the report for `day` (ISO date; default yesterday in the site time zone)."""
    report = daily_report_build(day=date.fromisoformat(day) if day else yesterday())
    return {"day": report.day.isoformat(), "report_id": report.pk, "tasks_total": report.tasks_total}


@shared_task(bind=True)
def cleanup_task_results_task(self, max_age_days: int | None = None) -> dict:
    """Delete task results older than max_age_days (default settings.TASK_RESULT_MAX_AGE_DAYS)."""
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
