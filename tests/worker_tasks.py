"""Tasks only the tests run: the demo job and the export job held at steps the test chooses (gates),
and a tight report_progress loop.

The tests' worker loads this module (`celery worker --include tests.worker_tasks`, tests/conftest.py)
and their daphne serves tests/asgi.py, which imports it, so both know these tasks; production
processes never do. The gated tasks run the production jobs' own code (dashboard.home.services,
dashboard.exports.services) with a hold before each step.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from dashboard.exports.models import Export
from dashboard.exports.services import export_create, export_mark_cancelled, export_write
from dashboard.home.services import demo_job_run

#: How often a gated job looks at its gate.
GATE_POLL_SECONDS = 0.05


class GateTimeout(RuntimeError):
    """A gated job waited longer than it was allowed to for its gate to open."""


def wait_at_gate(key: str, step: int, *, timeout: float) -> None:
    """Return once the number stored in the cache at `key` is at least `step`.

    Whoever holds the key (tests.livetools.Gate) decides how far a job may go: a test parks a job at
    a known step, looks at what watchers see there, then lets it go on, instead of racing a job that
    is merely short. The wait is bounded so a forgotten gate cannot hold a worker process for ever.
    """
    deadline = time.monotonic() + timeout
    while int(cache.get(key) or 0) < step:
        if time.monotonic() > deadline:
            raise GateTimeout(f"gate {key!r} was not opened to step {step} within {timeout} s")
        time.sleep(GATE_POLL_SECONDS)


# The demo job's options (dashboard.tasks.demo_job_task): late acknowledgement, redelivered when its
# worker process dies; its title.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, title=_("Demo job"))
def gated_demo_job_task(self, steps: int, delay_ms: int, fail_at_step: int | None = None,
                        gate_key: str | None = None, gate_timeout: float = 60.0) -> dict:
    """The demo job, whose step N starts only once the gate at `gate_key` admits N."""
    before_step = (lambda step: wait_at_gate(gate_key, step, timeout=gate_timeout)) if gate_key else None
    return demo_job_run(steps=steps, delay_ms=delay_ms, fail_at_step=fail_at_step, progress=self.report_progress,
                        before_step=before_step)


@shared_task(bind=True, offers_download=True, acks_late=True, reject_on_worker_lost=True)
def gated_export_write_task(self, export_id: int, gate_key: str, gate_timeout: float = 60.0) -> dict:
    """dashboard.tasks.export_write_task, whose batch N reports its progress once the gate admits N."""
    from dashboard.exports.scratch import scratch_path

    scratch = scratch_path(node=self.request.hostname or "", task_id=self.request.id or f"export-{export_id}")
    try:
        return export_write(export_id=export_id, progress=self.report_progress, scratch=scratch,
                            after_batch=lambda number: wait_at_gate(gate_key, number, timeout=gate_timeout))
    except self.Cancelled:
        export_mark_cancelled(export_id=export_id)
        raise


def gated_export_start(*, owner, kind: str, params: dict | None = None, gate) -> Export:
    """dashboard.exports.services.export_start, with the job held at `gate` (tests.livetools.Gate)."""
    with transaction.atomic():
        export = export_create(owner=owner, kind=kind, params=params)
        export.task_id = gated_export_write_task.delay_for_on_commit(owner, export.pk, gate.key)
        export.save(update_fields=["task_id"])
    return export


@shared_task(bind=True)
def progress_loop_task(self, iterations: int, gate_key: str | None = None, gate_timeout: float = 60.0) -> dict:
    """Calls report_progress once per iteration of a tight loop (the throttle's test), starting once
    the gate at `gate_key` admits step 1."""
    if gate_key:
        wait_at_gate(gate_key, 1, timeout=gate_timeout)
    sent = 0
    total = 0
    for i in range(1, iterations + 1):
        total += i % 7  # a little real work per iteration
        if self.report_progress(i, iterations, "looping"):
            sent += 1
    return {"iterations": iterations, "reports_sent": sent, "checksum": total}


@shared_task
def reversed_text_task(text: str) -> str:
    """The text backwards: a result that holds words its arguments do not (the free-text search's test)."""
    return text[::-1]


@shared_task(bind=True)
def said_and_waiting_task(self, backwards: str, gate_key: str, gate_timeout: float = 60.0) -> dict:
    """Reports progress with `backwards` the right way round, then waits until the gate admits step 2."""
    self.report_progress(1, 2, backwards[::-1])
    wait_at_gate(gate_key, 2, timeout=gate_timeout)
    return {"done": True}
