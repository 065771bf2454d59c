"""Benchmark: the staff CSV export of 1,000,000 task rows (dashboard/exports/services.py).

Fills a temporary SQLite database with ROWS TaskResult rows (one executemany per 50,000), then
writes the export in a fresh child process (the task's body: export_write with a progress callback,
as the worker runs it) and prints its time, the file's size, the number of progress reports, and
the child's peak memory growth over its resident size just before the export (target: under 100 MB).

    .venv/bin/python bench/export_tasks.py                  # 1,000,000 rows
    ROWS=200000 .venv/bin/python bench/export_tasks.py
    EXPORT_BATCH_ROWS=5000 .venv/bin/python bench/export_tasks.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _setup  # noqa: F401  (private Redis, temporary database; before Django)

ROWS = int(os.environ.get("ROWS", "1000000"))
CHUNK = 50_000


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _django():
    import django

    django.setup()


def fill(rows: int) -> tuple[float, int]:
    """Insert `rows` task results (every state, a few task names, args that need CSV escaping now and
    then) and one staff user; returns (seconds, user id)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    user = get_user_model().objects.create_user("bench-staff", "bench@example.com", "x", is_staff=True)
    table = TaskResult._meta.db_table
    columns = ["task_id", "task_name", "status", "worker", "content_type", "content_encoding", "result",
               "date_created", "date_started", "date_done", "task_args", "task_kwargs", "traceback", "meta",
               "periodic_task_name"]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    states = ["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE", "REVOKED", "PROGRESS", "PENDING"]
    names = ["dashboard.tasks.demo_job_task", "blog.tasks.email_send_task", "dashboard.tasks.daily_report_task"]
    now = timezone.now()
    start = time.perf_counter()
    for offset in range(0, rows, CHUNK):
        values = []
        for i in range(offset, min(rows, offset + CHUNK)):
            values.append((f"bench-{i:08d}-0000-0000-0000-000000000000", names[i % 3], states[i % 7],
                           "worker.1@bench", "application/json", "utf-8", '{"steps": 10}', now, now, now,
                           "=1+1" if i % 1000 == 0 else f"({i}, 10)", "{}", None, None, None))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, values)
    return time.perf_counter() - start, user.pk


def child(export_id: int) -> None:
    """Write the export and print figures as one JSON line."""
    _django()
    from dashboard.exports.models import Export
    from dashboard.exports.services import export_write

    reports = []
    baseline = _rss_kb("VmRSS")
    start = time.perf_counter()
    result = export_write(export_id=export_id, progress=lambda current, total, message: reports.append(current))
    seconds = time.perf_counter() - start
    peak = _rss_kb("VmHWM")
    export = Export.objects.get(pk=export_id)
    print(json.dumps({"rows": result["rows"], "seconds": round(seconds, 1),
                      "rows_per_second": round(result["rows"] / seconds),
                      "file_mb": round(export.file.size / 1e6, 1), "progress_reports": len(reports),
                      "rss_before_mb": round(baseline / 1024, 1), "peak_rss_mb": round(peak / 1024, 1),
                      "growth_mb": round((peak - baseline) / 1024, 1)}), flush=True)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
        return
    subprocess.run([sys.executable, str(_setup.BASE_DIR / "manage.py"), "migrate", "--noinput", "-v", "0"],
                   check=True, cwd=_setup.BASE_DIR)
    _django()
    from datetime import timedelta

    from django.utils import timezone

    from dashboard.exports.models import Export

    fill_seconds, user_id = fill(ROWS)
    print(json.dumps({"filled_rows": ROWS, "fill_seconds": round(fill_seconds, 1)}), flush=True)
    export = Export.objects.create(owner_id=user_id, kind=Export.Kind.TASKS, params={},
                                   expires_at=timezone.now() + timedelta(hours=1))
    subprocess.run([sys.executable, __file__, "--child", str(export.pk)], check=True)


if __name__ == "__main__":
    main()
