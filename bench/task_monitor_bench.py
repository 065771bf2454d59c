"""Benchmark: the task monitor's list and detail pages over 1,000,000 task rows.

    .venv/bin/python bench/task_monitor_bench.py                 # SQLite in a temp folder
    ROWS=100000 .venv/bin/python bench/task_monitor_bench.py     # smaller
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_tasks .venv/bin/python bench/task_monitor_bench.py
    (a DATABASE_URL whose database already holds ROWS task rows is reused, not filled again)

Creates ROWS TaskResult rows with a realistic mix (20 task names, mostly successes, some failures,
retries and revocations, 4 workers, 3 queues, 10% from schedules, 20% launched by one of 50 people,
spread over 30 days) plus their TaskLaunch rows, then requests pages through Django's test client
in this process (no network) and prints p50/p95 and SQL queries per page for: the first page and
page 500 (by cursor) and page 499 reached back from it (its "Previous" link) with each filter alone
and combined, each sort in either order, the field search, and the task detail page.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from datetime import timedelta

import _setup  # noqa: F401  (private Redis, temporary database, Django settings)
from _setup import migrate, percentile

ROWS = int(os.environ.get("ROWS", "1000000"))
REPEAT = int(os.environ.get("REPEAT", "20"))
NAMES = [f"app{i % 4}.tasks.job_{i}_task" for i in range(20)]
STATES = ["SUCCESS"] * 85 + ["FAILURE"] * 6 + ["RETRY"] * 2 + ["REVOKED"] * 2 + ["PENDING"] * 3 + ["STARTED"] * 2
WORKERS = [f"worker{i}@host" for i in range(4)]
QUEUES = ["celery", "emails", "reports"]


def populate(rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    users = [get_user_model().objects.create_user(f"user{i}") for i in range(50)]
    rng = random.Random(42)
    now = timezone.now()
    started = time.perf_counter()
    batch_size = 20_000
    with connection.cursor() as cursor:
        for offset in range(0, rows, batch_size):
            results, launches = [], []
            for i in range(offset, min(rows, offset + batch_size)):
                created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
                status = rng.choice(STATES)
                began = created + timedelta(seconds=rng.uniform(0.001, 5)) if status != "PENDING" else None
                done = (began or created) + timedelta(seconds=rng.expovariate(1 / 2.0))
                task_id = str(uuid.UUID(int=rng.getrandbits(128)))
                periodic = f"schedule-{i % 10}" if i % 10 == 0 else None
                result = '{"rows": %d}' % i if status == "SUCCESS" else (
                    '{"exc_type": "ValueError", "exc_message": ["bad row %d"]}' % i if status == "FAILURE" else None)
                results.append((task_id, periodic, rng.choice(NAMES), '"(%d,)"' % i, '"{}"', status,
                                rng.choice(WORKERS) if began else None, "application/json", "utf-8", result,
                                created, began, done))
                finished = status in ("SUCCESS", "FAILURE", "REVOKED") and began is not None
                launches.append((task_id, users[i % 50].pk if i % 5 == 0 else None, created, rng.choice(QUEUES),
                                 "[%d]" % i, "{}", (done - began).total_seconds() if finished else None))
            with transaction.atomic():
                cursor.executemany(
                    "INSERT INTO django_celery_results_taskresult (task_id, periodic_task_name, task_name, task_args,"
                    " task_kwargs, status, worker, content_type, content_encoding, result, date_created,"
                    " date_started, date_done) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", results)
                cursor.executemany(
                    "INSERT INTO dashboard_tasklaunch (task_id, launched_by_id, created_at, queue, args, kwargs, runtime,"
                    " parent_id, root_id, group_id, retry_of) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL, NULL)",
                    launches)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"created {rows:,} task rows (+ launches) in {time.perf_counter() - started:.1f} s", flush=True)


def measure(client, url: str) -> tuple[float, float, int, int]:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()  # the state counts are cached for seconds: measure them uncached
    timings = []
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    query_count = len(queries)
    for _ in range(REPEAT):
        cache.clear()
        start = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
    rows = response.content.decode().count('id="task-row-')
    return percentile(timings, 50), percentile(timings, 95), query_count, rows


def cursor_for_page(data: dict, page: int, size: int = 25) -> str:
    """The cursor that opens page `page` (computed once with OFFSET; the page itself uses it)."""
    from dashboard.monitor.filters import SORTS, TaskFilterForm, encode_cursor, tasks_queryset

    form = TaskFilterForm(data)
    assert form.is_valid(), form.errors
    data = form.cleaned_data
    sort, order = data["sort"], data["order"]
    prefix = "-" if order == "desc" else ""
    if sort == "runtime":
        from django.db.models import Exists, OuterRef

        from dashboard.models import TaskLaunch
        from dashboard.monitor.filters import filtered_tasks

        launch = (TaskLaunch.objects.filter(runtime__isnull=False)
                  .filter(Exists(filtered_tasks(data).filter(task_id=OuterRef("task_id"))))
                  .order_by(f"{prefix}runtime", f"{prefix}id")[(page - 1) * size - 1: (page - 1) * size].first())
        return encode_cursor(sort, order, "next", (launch.runtime, launch.pk)) if launch else ""
    columns = (*SORTS[sort], "id")
    last = tasks_queryset(data).order_by(*(prefix + c for c in columns))[(page - 1) * size - 1: (page - 1) * size].first()
    if last is None:
        return ""
    return encode_cursor(sort, order, "next", tuple(getattr(last, c) for c in columns))


def previous_cursor_of(client, url: str) -> str:
    """The "Previous" link's cursor on the page at `url` (the way back from it)."""
    import re
    from urllib.parse import parse_qs

    found = re.search(r'<a rel="prev" href="\?([^"]+)"', client.get(url).content.decode())
    return parse_qs(found.group(1).replace("&amp;", "&"))["cursor"][0] if found else ""


def main() -> None:
    migrate()
    import django

    django.setup()
    from urllib.parse import urlencode

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    existing = TaskResult.objects.count()
    if existing >= ROWS:  # DATABASE_URL names a database filled by an earlier run: reuse it
        print(f"reusing {existing:,} task rows", flush=True)
    else:
        populate(ROWS)
    staff, _ = get_user_model().objects.get_or_create(username="operator", defaults={"is_staff": True})
    client = Client(HTTP_HOST="127.0.0.1", secure=True)  # production settings: HTTPS only
    client.force_login(staff)
    week_ago = timezone.localtime(timezone.now() - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    scenarios = {
        "no filter": {},
        "state=FAILURE": {"state": "FAILURE"},
        "task name": {"name": NAMES[3]},
        "worker": {"worker": WORKERS[1]},
        "queue": {"queue": "emails"},
        "started by": {"launched_by": "user5"},
        "schedule": {"periodic": "schedule-0"},
        "last 7 days": {"date_from": week_ago},
        "search args": {"q": "(4242"},
        "state+name+7 days": {"state": "FAILURE", "name": NAMES[3], "date_from": week_ago},
        "sort started": {"sort": "started"},
        "sort finished": {"sort": "finished"},
        "sort runtime": {"sort": "runtime"},
        "received, oldest first": {"order": "asc"},
        "sort name": {"sort": "name"},
        "sort state, Z to A": {"sort": "state", "order": "desc"},
        "search syntax": {"q": f"state:failure name:{NAMES[3]} worker:{WORKERS[1]}"},
        "search args:": {"q": "args:(4242"},
    }
    print(f"\n{connection.vendor}, {ROWS:,} rows, {REPEAT} requests each (ms)\n")
    print("| filter | page 1 p50 | page 1 p95 | page 500 p50 | page 500 p95 | back to 499 p50 | p95 | queries/page "
          "| rows | state counts p50 | p95 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, data in scenarios.items():
        p50, p95, queries, rows = measure(client, "/dashboard/tasks/?" + urlencode(data))
        cursor = cursor_for_page(data, 500)
        if cursor:
            q50, q95, queries500, _ = measure(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": cursor}))
            page500 = f"{q50:.1f} | {q95:.1f}"
            queries = f"{queries} / {queries500}"
        else:
            page500 = "(fewer pages) | –"
        if cursor:  # the way back: page 499 through page 500's "Previous" link (a keyset walked backwards)
            back = previous_cursor_of(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": cursor}))
            b50, b95, _, _ = measure(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": back}))
            page500 += f" | {b50:.1f} | {b95:.1f}"
        else:
            page500 += " | – | –"
        c50, c95, _, _ = measure(client, "/dashboard/tasks/counts/?" + urlencode(data))
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {page500} | {queries} | {rows} | {c50:.1f} | {c95:.1f} |",
              flush=True)
    task_id = TaskResult.objects.filter(status="FAILURE").values_list("task_id", flat=True)[1000]
    p50, p95, queries, _ = measure(client, f"/dashboard/tasks/{task_id}/")
    print(f"| task detail page | {p50:.1f} | {p95:.1f} | | | | | {queries} | | | |")


if __name__ == "__main__":
    sys.exit(main())
