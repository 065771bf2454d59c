"""The demo job's steps, run by dashboard.tasks.demo_job_task (and by the tests' gated copy)."""

from __future__ import annotations

import time
from collections.abc import Callable


class DemoJobError(RuntimeError):
    """Raised on purpose when the demo job is asked to fail."""


def demo_job_run(*, steps: int, delay_ms: int, fail_at_step: int | None = None,
                 progress: Callable[[int, int, str], object],
                 before_step: Callable[[int], None] | None = None) -> dict:
    """`steps` steps of `delay_ms` each, reporting progress after each; raises DemoJobError at
    `fail_at_step`. `before_step(n)` runs before step n: a caller that holds the job at a step."""
    for step in range(1, steps + 1):
        if before_step:
            before_step(step)
        time.sleep(delay_ms / 1000)
        if fail_at_step and step == fail_at_step:
            raise DemoJobError(f"demo job failed at step {step} as requested")
        progress(step, steps, f"step {step} of {steps}")
    return {"steps": steps}
