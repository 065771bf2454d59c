"""What one stored progress report costs PostgreSQL: write-ahead log bytes and full-page images per
report, and the share of HOT updates, for the light write (site_config/machinery/results.py) against
django-celery-results' own store (a get-or-create and a full save of the row).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_progress \
        .venv/bin/python bench/progress_write_bench.py [--tasks 50] [--reports 60]

Each mode gets the same work on a freshly migrated database: `--tasks` running tasks (rows in
STARTED, among 20,000 finished rows so the indexes have a realistic size), each storing `--reports`
progress reports in turn, round-robin, as 50 tasks at 5 Hz do. A CHECKPOINT runs before each mode,
so full-page images are counted from the same starting point. Byte counts do not depend on the
machine's load; the reports-per-second figure does and is printed for scale only. The run fails
(exit 1, no figures) if any report was not stored.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and its task table filled).")

import _setup  # noqa: E402,F401  (private Redis, settings)

_setup.migrate()

import django  # noqa: E402

django.setup()

from celery import states  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_celery_results.backends.database import DatabaseBackend as LibraryBackend  # noqa: E402
from django_celery_results.models import TaskResult  # noqa: E402

from site_config.celery import app  # noqa: E402


def _stats() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_current_wal_lsn(), wal_fpi FROM pg_stat_wal")
        lsn, fpi = cursor.fetchone()
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                       "WHERE relname = 'django_celery_results_taskresult'")
        updates, hot = cursor.fetchone()
    return {"lsn": lsn, "fpi": fpi, "updates": updates, "hot": hot}


def _wal_bytes(start: str, end: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(%s, %s)", [end, start])
        return int(cursor.fetchone()[0])


def _prepare(tasks: int) -> list[str]:
    TaskResult.objects.all().delete()
    now = timezone.now()
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=str(uuid.uuid4()), task_name="dashboard.tasks.demo_job_task", status=states.SUCCESS,
                    date_done=now, content_type="application/json", content_encoding="utf-8")
         for _ in range(20_000)], batch_size=2000)
    running = [str(uuid.uuid4()) for _ in range(tasks)]
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=task_id, task_name="dashboard.tasks.demo_job_task", status=states.STARTED,
                    date_done=now, content_type="application/json", content_encoding="utf-8")
         for task_id in running])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE django_celery_results_taskresult")
        cursor.execute("CHECKPOINT")
    return running


def run_mode(name: str, store, tasks: int, reports: int) -> dict:
    running = _prepare(tasks)
    before = _stats()
    started = time.perf_counter()
    for step in range(1, reports + 1):
        for task_id in running:
            store(task_id, {"current": step, "total": reports, "message": f"step {step} of {reports}"})
    elapsed = time.perf_counter() - started
    after = _stats()
    stored = TaskResult.objects.filter(task_id__in=running, status="PROGRESS",
                                       result__contains=f'"current": {reports},').count()
    if stored != tasks:
        sys.exit(f"{name}: {tasks - stored} of {tasks} tasks did not store their last report; no figures.")
    total = tasks * reports
    updates = after["updates"] - before["updates"]
    return {
        "mode": name, "reports": total, "per_second": total / elapsed,
        "wal_bytes_per_report": _wal_bytes(before["lsn"], after["lsn"]) / total,
        "fpi_per_report": (after["fpi"] - before["fpi"]) / total,
        "hot_share": (after["hot"] - before["hot"]) / updates if updates else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--reports", type=int, default=60, help="reports per task (60 = 12 s at 5 Hz)")
    options = parser.parse_args()

    light = app.backend
    library = LibraryBackend(app=app, url=app.conf.result_backend)

    modes = [
        ("library store (get-or-create + full save)",
         lambda task_id, meta: library.store_result(task_id, meta, "PROGRESS")),
        ("light write (one conditional UPDATE)",
         lambda task_id, meta: light.store_result(task_id, meta, "PROGRESS")),
    ]
    results = [run_mode(name, store, options.tasks, options.reports) for name, store in modes]
    print(f"{options.tasks} tasks x {options.reports} reports, PostgreSQL {connection.pg_version}")
    print(f"{'mode':45} {'WAL B/report':>13} {'FPI/report':>11} {'HOT share':>10} {'reports/s':>10}")
    for row in results:
        print(f"{row['mode']:45} {row['wal_bytes_per_report']:13.0f} {row['fpi_per_report']:11.3f} "
              f"{row['hot_share']:10.1%} {row['per_second']:10.0f}")
    ratio = results[1]["wal_bytes_per_report"] / results[0]["wal_bytes_per_report"]
    print(f"light / library WAL bytes per report: {ratio:.2f}")


if __name__ == "__main__":
    main()
