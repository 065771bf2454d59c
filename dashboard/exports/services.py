"""The one export service: every export (a member's own data, the staff CSVs) is started, written,
offered for download and removed here.

`export_start` records the Export row and queues `export_write_task` on commit (the person lands on
the task's live page). `export_write` streams rows in keyset batches of EXPORT_BATCH_ROWS (memory
stays flat whatever the size) into a scratch file on the worker's own disk (scratch.py), reporting
progress once per batch, then hands the finished file to the "default" storage, the only place a web
process reads it from; a failure or a cancel removes the scratch file, so no partial export is ever
offered. Files expire after EXPORT_EXPIRY_HOURS; `exports_cleanup` (a beat job) deletes them and
their rows. CSV cells that a spreadsheet would run as a formula are escaped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from blog.models import Comment
from dashboard.exports.models import Export
from dashboard.exports.scratch import LOCAL, scratch_path
from dashboard.models import TaskLaunch
from dashboard.moderation.queue import comments_matching
from site_config.machinery.stored_texts import stored_text

#: A spreadsheet runs a cell starting with these as a formula (CSV injection); such cells get a "'".
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportRefused(Exception):
    """The export cannot be started; the message says why."""


def csv_cell(value) -> str | int | float:
    """A value as a CSV cell: text that a spreadsheet would evaluate is prefixed with "'"; numbers
    stay numbers (a negative score is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return "'" + text if text.startswith(FORMULA_START) else text


# --- starting ---

def export_start(*, owner, kind: str, params: dict | None = None) -> Export:
    """Record the export and queue the job that writes it (on commit)."""
    from dashboard.tasks import export_write_task

    with transaction.atomic():
        export = export_create(owner=owner, kind=kind, params=params)
        export.task_id = export_write_task.delay_for_on_commit(owner, export.pk)
        export.save(update_fields=["task_id"])
    return export


def export_create(*, owner, kind: str, params: dict | None = None) -> Export:
    """Check and record an export, not yet queued (export_start queues it)."""
    if kind not in Export.Kind.values:
        raise ExportRefused(gettext("Unknown export %(kind)r.") % {"kind": kind})
    if kind == Export.Kind.MEMBER_DATA and Export.objects.filter(
            owner=owner, kind=kind, status=Export.Status.WRITING).exists():
        raise ExportRefused(gettext("An export of your data is being written already; it will be offered when it ends."))
    return Export.objects.create(owner=owner, kind=kind, params=params or {},
                                 expires_at=timezone.now() + timedelta(hours=settings.EXPORT_EXPIRY_HOURS))


# --- writing ---

Progress = Callable[[int, int, str], object]


def export_write(*, export_id: int, progress: Progress, after_batch: Callable[[int], None] | None = None,
                 scratch: Path | None = None) -> dict:
    """Write the export's file: rows streamed to the scratch file `scratch` (default: the "local"
    folder's, dashboard/exports/scratch.py) with a progress report per batch, then saved to the
    storage. Any exception (TaskCancelled included) removes the scratch file, marks the export
    failed and propagates (the task marks a cancel as such). `after_batch(n)` runs once batch n is
    on disk, before its report: a caller that holds the job between batches."""
    export = Export.objects.select_related("owner").get(pk=export_id)
    writer, extension = WRITERS[export.kind]
    part = scratch or scratch_path(node=LOCAL, task_id=f"export-{export.pk}")
    part.parent.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    filename = f"{export.kind}-{stamp}.{extension}"
    try:
        with open(part, "w", newline="", encoding="utf-8") as out:
            written = writer(export, out, progress, after_batch or (lambda batch: None))
        # The final report always goes out, so a cancel asked for during the last batch still lands
        # here, before anything reaches the storage.
        progress(max(written, 1), max(written, 1), stored_text("export.saving", written=written))
        with open(part, "rb") as finished:
            # Numbered by the export: a re-run of the same job writes the same name (S3 replaces the
            # object, the file system picks a free name); the row records whichever was written.
            name = default_storage.save(f"exports/{export.owner_id}/{export.pk}-{filename}", File(finished))
    except BaseException:
        Export.objects.filter(pk=export.pk).update(status=Export.Status.FAILED)
        raise
    finally:
        part.unlink(missing_ok=True)
    Export.objects.filter(pk=export.pk).update(status=Export.Status.READY, file=name, filename=filename, rows=written)
    return {"export_id": export.pk, "rows": written, "file": filename}


def export_mark_cancelled(*, export_id: int) -> None:
    """After a cancel: the scratch file is already gone (export_write); the row says why there is no file."""
    Export.objects.filter(pk=export_id).update(status=Export.Status.CANCELLED)


def _batches(qs, columns: tuple[str, ...], *, batch_size: int) -> Iterator[list[tuple]]:
    """Rows of `qs` as value tuples in primary-key order, one keyset batch at a time (never OFFSET,
    never the whole result in memory), up to the largest id present when the export began."""
    last_id = qs.aggregate(last=Max("id"))["last"]
    if last_id is None:
        return
    after = 0
    bounded = qs.filter(id__lte=last_id).order_by("id")
    while True:
        batch = list(bounded.filter(id__gt=after).values_list("id", *columns)[:batch_size])
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def _write_csv(out, header: list[str], batches: Iterator[list[tuple]], total: int, progress: Progress,
               after_batch, convert=lambda batch: batch) -> int:
    writer = csv.writer(out)
    writer.writerow(header)
    written = 0
    for number, batch in enumerate(batches, 1):
        writer.writerows([csv_cell(value) for value in row] for row in convert(batch))
        written += len(batch)
        out.flush()  # the file on disk holds what the report says
        after_batch(number)
        progress(written, max(total, written), stored_text("export.rows", written=written, total=max(total, written)))
    return written


TASK_COLUMNS = ("task_id", "task_name", "status", "worker", "periodic_task_name", "date_created", "date_started",
                "date_done", "task_args", "task_kwargs", "result")


def export_tasks_queryset(params: dict):
    """The task list's rows for the filters of its URL (search syntax included): the page's own
    query (dashboard.monitor.filters.task_filter_queryset), so the file holds exactly what the page
    filters to. The file lists them in id order (the writer walks the id index in batches)."""
    from dashboard.monitor.filters import TaskFiltersInvalid, task_filter_queryset

    try:
        return task_filter_queryset(params)
    except TaskFiltersInvalid as invalid:
        raise ExportRefused(gettext("The task list's filters are not valid: %(errors)s") % {"errors": "; ".join(invalid.messages)}) from None


def _write_tasks(export, out, progress, after_batch) -> int:
    qs = export_tasks_queryset(export.params)
    total = qs.count()

    def with_launch(batch):
        launches = dict((task_id, (who, queue, runtime)) for task_id, who, queue, runtime in TaskLaunch.objects.filter(
            task_id__in=[row[1] for row in batch]).values_list("task_id", "launched_by__username", "queue", "runtime"))
        for row in batch:
            who, queue, runtime = launches.get(row[1], ("", "", None))
            yield (*row[1:], who or "", queue, runtime)

    header = [*TASK_COLUMNS, "launched_by", "queue", "runtime_seconds"]
    return _write_csv(out, header, _batches(qs, TASK_COLUMNS, batch_size=settings.EXPORT_BATCH_ROWS), total,
                      progress, after_batch, with_launch)


COMMENT_COLUMNS = ("created_at", "status", "score", "reasons", "post__title", "post__slug", "author__username",
                   "body", "moderated_by__username", "moderated_at")


def comments_queryset(params: dict):
    """The moderation queue's own filter (its status, its post; the views checked both)."""
    return comments_matching(status=params.get("status"), post_id=int(params["post"]) if params.get("post") else None)


def _write_comments(export, out, progress, after_batch) -> int:
    qs = comments_queryset(export.params)
    header = ["id", *COMMENT_COLUMNS]
    return _write_csv(out, header, _batches(qs, COMMENT_COLUMNS, batch_size=settings.EXPORT_BATCH_ROWS),
                      qs.count(), progress, after_batch)


def _write_member_data(export, out, progress, after_batch) -> int:
    """One JSON document: the member's account and profile, then their comments, streamed."""
    user = export.owner
    profile = getattr(user, "profile", None)
    account = {
        "username": user.get_username(), "email": user.email, "first_name": user.first_name,
        "last_name": user.last_name, "date_joined": user.date_joined.isoformat(),
        "last_login": user.last_login.isoformat() if user.last_login else None,
        "email_verified_at": profile.email_verified_at.isoformat() if profile and profile.email_verified_at else None,
    }
    out.write('{"exported_at": %s, "account": %s, "comments": [' % (
        json.dumps(timezone.now().isoformat()), json.dumps(account)))
    qs = Comment.objects.filter(author=user)
    total = qs.count()
    columns = ("post__title", "post__slug", "body", "status", "created_at")
    written = 0
    for number, batch in enumerate(_batches(qs, columns, batch_size=settings.EXPORT_BATCH_ROWS), 1):
        for pk, title, slug, body, status, created in batch:
            out.write(("," if written else "") + json.dumps({
                "id": pk, "post": title, "post_slug": slug, "body": body, "status": Comment.MEMBER_STATUS[status],
                "created_at": created.isoformat()}))
            written += 1
        out.flush()
        after_batch(number)
        progress(written, max(total, written), stored_text("export.comments", written=written,
                                                                      total=max(total, written)))
    out.write("]}\n")
    return written


WRITERS = {
    Export.Kind.TASKS: (_write_tasks, "csv"),
    Export.Kind.MODERATION: (_write_comments, "csv"),
    Export.Kind.COMMENTS: (_write_comments, "csv"),
    Export.Kind.MEMBER_DATA: (_write_member_data, "json"),
}


# --- reading and removing ---

def export_for_download(*, user, export_id: int) -> Export | None:
    """The export if `user` owns it (nobody else, staff and superusers included: an export is a copy
    made for one person), else None. A staff export is checked again by `export_may_download`."""
    return Export.objects.filter(pk=export_id, owner=user).first()


def export_may_download(*, user, export: Export) -> bool:
    """A member's own data always; a staff export (tasks, the moderation queue, comments) only while
    its maker is still active staff holding the export permission, as when they asked for it."""
    from dashboard.permissions import EXPORT_DATA, may

    return export.kind == Export.Kind.MEMBER_DATA or may(user, EXPORT_DATA)


def export_is_expired(export: Export, now: datetime | None = None) -> bool:
    return export.expires_at <= (now or timezone.now())


def exports_cleanup(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Delete expired exports: the file from the storage, then the row. Returns how many."""
    now = now or timezone.now()
    removed = 0
    while True:
        batch = list(Export.objects.filter(expires_at__lte=now).order_by("id")[:batch_size])
        if not batch:
            return removed
        for export in batch:
            if export.file:
                default_storage.delete(export.file.name)
        Export.objects.filter(pk__in=[export.pk for export in batch]).delete()
        removed += len(batch)
