"""Keep open schedules pages in step with the runs: a run sent (by beat, or "run now") or finished
-> the schedule's run cells (next run, last run, run count) pushed to the group "schedules".

Taken from the run's own message, never from PeriodicTask.last_run_at, which beat writes back only
every few minutes: beat puts the `periodic_task_name` header on each message it sends, so
after_task_publish (in the beat process, once the PENDING row exists) and task_postrun (in the
worker, once the final state is stored) know which schedule ran. Rendered once per run and watched language, from the
same partial the page uses.
"""

from __future__ import annotations

import logging

from celery.signals import after_task_publish, task_postrun
from django.template.loader import render_to_string
from django_celery_beat.models import PeriodicTask

from dashboard.live.contract import SCHEDULE_UPDATE, SCHEDULES_GROUP
from dashboard.live.publish import publish_localized
from dashboard.schedules.services import SCHEDULE_MODELS, schedule_row

logger = logging.getLogger(__name__)

RUN_CELLS = "dashboard/schedules/_run_cells.html"


def render_run_cells(row) -> str:
    return render_to_string(RUN_CELLS, {"row": row})


def schedule_run_publish(*, name: str) -> bool:
    """Push the run cells of the schedule called `name`; False when there is no such schedule."""
    pt = PeriodicTask.objects.select_related(*SCHEDULE_MODELS).filter(name=name).first()
    if pt is None:
        return False
    publish_localized(lambda: [(SCHEDULES_GROUP, {"type": SCHEDULE_UPDATE, "periodic_task": pt.pk,
                                                  "html": render_run_cells(schedule_row(pt))}, ("schedule", pt.pk))])
    return True


def _publish_quietly(name: str | None) -> None:
    if not name:
        return
    try:
        schedule_run_publish(name=name)
    except Exception:  # a live page is a nicety: never let it stop beat or the worker
        logger.warning("could not publish the run of schedule %s", name, exc_info=True)


@after_task_publish.connect(dispatch_uid="dashboard.schedules.run_sent")
def _run_sent(sender=None, headers=None, **kwargs) -> None:
    _publish_quietly((headers or {}).get("periodic_task_name"))


@task_postrun.connect(dispatch_uid="dashboard.schedules.run_finished")
def _run_finished(sender=None, task=None, **kwargs) -> None:
    _publish_quietly(getattr(getattr(task, "request", None), "periodic_task_name", None))
