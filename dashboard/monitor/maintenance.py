"""Clean-ups that keep tables from growing without bound.

Every table that grows with use has a retention here, run by one task (`cleanup_task_results_task`,
daily from beat), each with its own setting:
- task results, their launch records and their timeline events: `TASK_RESULT_MAX_AGE_DAYS`
  (a task's events go with it: events older than the cutoff whose task has no row any more);
- audit records (task, worker-control, schedule and queue-purge actions, moderation decisions):
  `AUDIT_MAX_AGE_DAYS`;
- the email outbox, sent or failed for good (never a queued one), and the deliveries of finished
  announcements: `OUTBOX_MAX_AGE_DAYS`.
Posts, comments, members, announcements and daily reports are content, kept until someone deletes them.

Each table is deleted by primary-key ranges: each batch is one `DELETE ... WHERE id >= lo AND
id < hi AND <date> < cutoff`, in its own short transaction. No row is ever loaded into Python
(Celery's own `backend_cleanup` builds querysets Django may collect into memory, which has run out of
memory on large tables), so memory stays flat whatever the table size, and the write lock is held for
one batch at a time, so pages and workers keep going meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, Max, Min, OuterRef
from django.utils import timezone
from django_celery_results.models import TaskResult

from blog.models import Announcement, AnnouncementDelivery, ModerationDecision, OutboundEmail
from dashboard.models import ControlAction, QueuePurge, ScheduleChange, TaskAction, TaskEvent, TaskLaunch

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
    # After the results: an event whose task row is gone (and every event older than the cutoff
    # belongs to a task that finished before it, or to one the clean-up just removed).
    events = _delete_in_id_ranges(
        TaskEvent, date_field="at", cutoff=cutoff, batch_size=batch_size, pause_seconds=pause_seconds,
        also=~Exists(TaskResult.objects.filter(task_id=OuterRef("task_id"))),
    )
    logger.info("deleted %d task results, %d launch records and %d events older than %s",
                results, launches, events, cutoff.isoformat())
    return {"deleted_results": results, "deleted_launches": launches, "deleted_events": events,
            "cutoff": cutoff.isoformat()}


# (model, date field) of the audit records: who did what, kept AUDIT_MAX_AGE_DAYS.
AUDIT_TABLES = [
    (TaskAction, "created_at"),
    (ControlAction, "created_at"),
    (ScheduleChange, "changed_at"),
    (QueuePurge, "created_at"),
    (ModerationDecision, "created_at"),
]


def records_cleanup(*, now: datetime | None = None, batch_size: int = 5000) -> dict:
    """Delete audit records older than AUDIT_MAX_AGE_DAYS, and sent or failed emails and finished
    announcements' deliveries older than OUTBOX_MAX_AGE_DAYS. Returns the counts per table."""
    now = now or timezone.now()
    deleted = {}
    audit_cutoff = now - timedelta(days=settings.AUDIT_MAX_AGE_DAYS)
    for model, date_field in AUDIT_TABLES:
        deleted[model._meta.label] = _delete_in_id_ranges(
            model, date_field=date_field, cutoff=audit_cutoff, batch_size=batch_size)
    outbox_cutoff = now - timedelta(days=settings.OUTBOX_MAX_AGE_DAYS)
    # Deliveries first: each may point at an email, which can go only once nothing points at it.
    deleted[AnnouncementDelivery._meta.label] = _delete_in_id_ranges(
        AnnouncementDelivery, date_field="created_at", cutoff=outbox_cutoff, batch_size=batch_size,
        also=models.Q(announcement__status=Announcement.Status.DONE),
    )
    deleted[OutboundEmail._meta.label] = _delete_in_id_ranges(
        OutboundEmail, date_field="updated_at", cutoff=outbox_cutoff, batch_size=batch_size,
        also=models.Q(status__in=[OutboundEmail.Status.SENT, OutboundEmail.Status.FAILED])
        & ~Exists(AnnouncementDelivery.objects.filter(email=OuterRef("pk"))),
    )
    logger.info("retention: deleted %s", ", ".join(f"{count} {label}" for label, count in deleted.items()))
    return deleted


def _delete_in_id_ranges(
    model: type[models.Model],
    *,
    date_field: str,
    cutoff: datetime,
    batch_size: int,
    pause_seconds: float = 0.0,
    on_batch: Callable[[int, int], None] | None = None,
    also: models.Q | Exists | None = None,
) -> int:
    old = model.objects.filter(**{f"{date_field}__lt": cutoff})
    if also is not None:
        old = old.filter(also)
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
