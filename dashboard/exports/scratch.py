"""Scratch files: where an export is written before it goes to the storage, on the worker's own disk.

Each worker has a folder of its own under EXPORT_WORK_DIR, named after its node name (`worker.1@host`),
so it can empty it knowing no other worker uses it: at start-up (files left by a worker killed
mid-export) and after each job (dashboard/exports/signals.py). A job's file is named after its task
id. Nothing reads these files but the job writing them: a finished export lives in the storage.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from django.conf import settings

#: The folder of whatever runs an export outside a worker (a management command, a test).
LOCAL = "local"


def scratch_dir(*, node: str) -> Path:
    """The scratch folder of the worker named `node` (characters a path cannot hold replaced)."""
    return settings.EXPORT_WORK_DIR / (re.sub(r"[^\w.@-]", "_", node) or LOCAL)


def scratch_path(*, node: str, task_id: str) -> Path:
    """Where the job `task_id` of worker `node` writes its export."""
    return scratch_dir(node=node) / f"{re.sub(r'[^\w.-]', '_', task_id)}.part"


def scratch_discard(*, node: str, task_id: str) -> bool:
    """Remove the job's scratch file, if any is left (a job that ended normally removed its own)."""
    path = scratch_path(node=node, task_id=task_id)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def scratch_clear(*, node: str) -> int:
    """Empty the worker's scratch folder (call while it runs no job); returns how many files went."""
    folder = scratch_dir(node=node)
    if not folder.is_dir():
        return 0
    removed = sum(1 for path in folder.rglob("*") if path.is_file())
    shutil.rmtree(folder, ignore_errors=True)
    return removed
