"""The sweep of orphaned stored files: files in the storage that no row names any more.

A file can outlive the row that should name it: an upload whose transaction rolled back (the original
is saved before the post row commits), a worker killed between saving a rendition or an export and
recording it, a delete that failed. The sweep (a beat job) walks the folders the site writes and
deletes each file that no row names (Post.image, PostImageRendition.name, Export.file) and that was
last written more than STORAGE_ORPHAN_GRACE_HOURS ago: the grace period is what keeps an upload
still in flight (saved, its row not yet committed) safe. Works through the storage's API alone, so
the same on the file system and on object storage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from blog.models import Post, PostImageRendition
from dashboard.exports.models import Export

logger = logging.getLogger(__name__)

#: The folders the site writes into (blog/services/images.py, dashboard/exports/services.py).
FOLDERS = ("posts/originals", "posts/renditions", "exports")
BATCH = 500


def _walk(folder: str) -> Iterator[str]:
    try:
        folders, files = default_storage.listdir(folder)
    except FileNotFoundError:  # the file system before anything was written there
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _walk(f"{folder}/{sub}")


def _named(names: list[str]) -> set[str]:
    """Those of `names` that a row names."""
    return (set(Post.objects.filter(image__in=names).values_list("image", flat=True))
            | set(PostImageRendition.objects.filter(name__in=names).values_list("name", flat=True))
            | set(Export.objects.filter(file__in=names).values_list("file", flat=True)))


def storage_orphans_sweep(*, now: datetime | None = None, grace: timedelta | None = None) -> list[str]:
    """Delete the files no row names that are older than `grace` (default STORAGE_ORPHAN_GRACE_HOURS);
    returns their names."""
    now = now or timezone.now()
    cutoff = now - (grace if grace is not None else timedelta(hours=settings.STORAGE_ORPHAN_GRACE_HOURS))
    removed: list[str] = []
    for folder in FOLDERS:
        batch: list[str] = []
        for name in _walk(folder):
            batch.append(name)
            if len(batch) == BATCH:
                removed += _sweep(batch, cutoff)
                batch = []
        removed += _sweep(batch, cutoff)
    return removed


def _sweep(names: list[str], cutoff: datetime) -> list[str]:
    if not names:
        return []
    removed = []
    for name in sorted(set(names) - _named(names)):
        try:
            if default_storage.get_modified_time(name) >= cutoff:
                continue  # recent: perhaps an upload whose row is still being written
            default_storage.delete(name)
        except FileNotFoundError:  # removed meanwhile by its own clean-up
            continue
        removed.append(name)
        logger.info("removed orphaned file %s", name)
    return removed
