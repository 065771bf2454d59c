"""Dashboard tasks: the demo job that shows live progress to newcomers, exports (written for one
person, dashboard/exports/), and the jobs scheduled in settings.PERIODIC_TASKS: the daily report, the
task-result clean-up, the lost-task sweep, the removal of expired exports and the sweep of orphaned
stored files."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from dashboard.home.services import demo_job_run
from dashboard.monitor.lost import tasks_lost_sweep, tasks_unqueued_sweep
from dashboard.monitor.maintenance import records_cleanup, task_results_cleanup
from dashboard.reports.services import daily_report_build, yesterday
from site_config.machinery.stored_texts import stored_text


# Safe to run again from the start, so late acknowledgement: if the worker process dies mid-job,
# the broker re-delivers it to another process instead of losing it.
# What may be given from outside (run form, API, schedules; dashboard/workers/launch.py checks it):
# each task's `launch_arguments` names the arguments and their bounds (a bound may be a function that reads a setting);
# a task without it takes no arguments from outside. `title`: what people call the task (pages show it).
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, title=_("Demo job"), launch_arguments={
    "steps": {"type": "int", "min": 1, "max": lambda: settings.DEMO_JOB_MAX_STEPS},
    "delay_ms": {"type": "int", "min": 0, "max": lambda: settings.DEMO_JOB_MAX_DELAY_MS},
    "fail_at_step": {"type": "int", "min": 1, "max": lambda: settings.DEMO_JOB_MAX_STEPS, "null": True},
})
def demo_job_task(self, steps: int, delay_ms: int, fail_at_step: int | None = None) -> dict:
    """`steps` steps of `delay_ms` each, reporting progress after each (dashboard.home.services)."""
    return demo_job_run(steps=steps, delay_ms=delay_ms, fail_at_step=fail_at_step, progress=self.report_progress)


@shared_task(bind=True, title=_("Daily report"), launch_arguments={"day": {"type": "date", "null": True}})
def daily_report_task(self, day: str | None = None) -> dict:
    """Build the report for `day` (ISO date; default yesterday in the site time zone)."""
    report = daily_report_build(day=date.fromisoformat(day) if day else yesterday())
    return {"day": report.day.isoformat(), "report_id": report.pk, "tasks_total": report.tasks_total}


# Results younger than a day are never the clean-up's business (members follow their own tasks).
@shared_task(bind=True, title=_("Clean-up of old task results"),
             launch_arguments={"max_age_days": {"type": "int", "min": 1, "max": 3650, "null": True}})
def cleanup_task_results_task(self, max_age_days: int | None = None) -> dict:
    """Delete task results older than max_age_days (default settings.TASK_RESULT_MAX_AGE_DAYS), then
    the other tables' old rows by their own retention settings (dashboard.monitor.maintenance)."""
    if max_age_days is not None and max_age_days < 1:  # a schedule stored before its arguments were checked
        raise ValueError(f"max_age_days must be at least 1, not {max_age_days}.")
    counts = task_results_cleanup(
        older_than=timedelta(days=max_age_days or settings.TASK_RESULT_MAX_AGE_DAYS),
        batch_size=settings.TASK_RESULT_CLEANUP_BATCH_SIZE,
        on_batch=lambda done, total: self.report_progress(done, total, stored_text("cleanup.batch", done=done, total=total)),
    )
    counts["deleted_records"] = records_cleanup(batch_size=settings.TASK_RESULT_CLEANUP_BATCH_SIZE)
    return counts


@shared_task(bind=True, title=_("Search for lost tasks"))
def lost_tasks_sweep_task(self) -> dict:
    """Tasks whose worker is gone, or whose message the broker lost: marked failed with the reason,
    sent again when safe."""
    return {"lost": tasks_lost_sweep(), "messages_lost": tasks_unqueued_sweep()}


# offers_download: the task's page fetches the download panel once it ends (monitor/detail.html).
# Late acknowledgement: a worker stopped or lost mid-export hands the message back and the export is
# written again from the start (export_write replaces the scratch file; the row is set at the end).
@shared_task(bind=True, offers_download=True, acks_late=True, reject_on_worker_lost=True, title=_("Data export"))
def export_write_task(self, export_id: int) -> dict:
    """Write one export (dashboard.exports.services). Cancelled: the partial file is removed, the
    export says so, and the task ends revoked."""
    from dashboard.exports.scratch import scratch_path
    from dashboard.exports.services import export_mark_cancelled, export_write

    scratch = scratch_path(node=self.request.hostname or "", task_id=self.request.id or f"export-{export_id}")
    try:
        return export_write(export_id=export_id, progress=self.report_progress, scratch=scratch)
    except self.Cancelled:
        export_mark_cancelled(export_id=export_id)  # export_write already removed the partial file
        raise


@shared_task(bind=True, title=_("Removal of expired exports"))
def exports_cleanup_task(self) -> dict:
    """Export files past their expiry, and their rows, are deleted."""
    from dashboard.exports.services import exports_cleanup

    return {"removed": exports_cleanup()}


@shared_task(bind=True)
def storage_orphans_sweep_task(self) -> dict:
    """Stored files no row names, older than the grace period, are deleted (dashboard/storage_sweep.py)."""
    from dashboard.storage_sweep import storage_orphans_sweep

    return {"removed": storage_orphans_sweep()}
