"""Tasks only the benchmarks run; their worker loads this module (`celery worker --include
bench.worker_tasks`, bench/soak.py), production workers never do."""

from __future__ import annotations

import time

from celery import shared_task


# Named explicitly: the scripts in bench/ can also import this module as plain `worker_tasks`.
@shared_task(bind=True, name="bench.worker_tasks.stamped_demo_job_task")
def stamped_demo_job_task(self, steps: int, delay_ms: int) -> dict:
    """The demo job's shape (`steps` steps of `delay_ms` each) with each report's wall-clock time in
    its message, so the soak's clients measure how long a report took to reach them."""
    for step in range(1, steps + 1):
        time.sleep(delay_ms / 1000)
        self.report_progress(step, steps, f"step {step} of {steps} · t={time.time():.3f}")
    return {"steps": steps}
