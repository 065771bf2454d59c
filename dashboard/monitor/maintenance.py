"""Clean-ups that keep tables from growing without bound.

`task_results_cleanup` deletes old task results by primary-key ranges: each batch is one
`DELETE ... WHERE id >= lo AND id < hi AND date_done < cutoff`, in its own short transaction. No row
is ever loaded into Python (Celery's own `backend_cleanup` builds querysets Django may collect into
memory, which has run out of memory on large tables), so memory stays flat whatever the table size,
and the write lock is held for one batch at a time, so pages and workers keep going meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Max, Min
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch

logger = logging.getLogger(__name__)


def task_results_cleanup(
    *,
    older_than: timedelta,
    batch_size: int = 5000,
    now: datetime | None = None,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict:
    """Delete task results finished before `now - older_than`, and the launch records as old.

    `on_batch(done, total)` is called after each batch (live progress). Returns the counts.
    """
    cutoff = (now or timezone.now()) - older_than
    results = _delete_in_id_ranges(
        TaskResult, date_field="date_done", cutoff=cutoff, batch_size=batch_size,
        pause_seconds=pause_seconds, on_batch=on_batch,
    )
    launches = _delete_in_id_ranges(
        TaskLaunch, date_field="created_at", cutoff=cutoff, batch_size=batch_size, pause_seconds=pause_seconds,
    )
    logger.info("deleted %d task results and %d launch records older than %s", results, launches, cutoff.isoformat())
    return {"deleted_results": results, "deleted_launches": launches, "cutoff": cutoff.isoformat()}


def _delete_in_id_ranges(
    model: type[models.Model],
    *,
    date_field: str,
    cutoff: datetime,
    batch_size: int,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int, int], None] | None = None,
) -> int:
    old = model.objects.filter(**{f"{date_field}__lt": cutoff})
    bounds = old.aggregate(low=Min("pk"), high=Max("pk"))
    low, high = bounds["low"], bounds["high"]
    if low is None:
        return 0
    batches = (high - low) // batch_size + 1
    deleted = 0
    for number, start in enumerate(range(low, high + 1, batch_size), 1):
        batch = old.filter(pk__gte=start, pk__lt=start + batch_size)
        with transaction.atomic():
            # _raw_delete: one DELETE statement, never a collector that may load the rows (it does
            # when a delete signal receiver is connected); nothing references these tables.
            deleted += batch._raw_delete(batch.db)
        if on_batch:
            on_batch(number, batches)
        if pause_seconds:
            time.sleep(pause_seconds)
    return deleted
