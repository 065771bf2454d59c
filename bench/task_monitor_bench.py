"""Benchmark: the task monitor's list and detail pages over 1,000,000 task rows.

    .venv/bin/python bench/task_monitor_bench.py                 # SQLite in a temp folder
    ROWS=100000 .venv/bin/python bench/task_monitor_bench.py     # smaller
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_tasks .venv/bin/python bench/task_monitor_bench.py
    (a DATABASE_URL whose database already holds ROWS task rows is reused, not filled again)
    HTTP=1 ...                                                   # through daphne over HTTP, as Flower was measured
    BUILD_ONLY=1 ...                                             # fill the database, measure nothing
    SCENARIOS="no filter,queue" ...                              # only these rows of the table
On PostgreSQL it also prints each request's slowest query in EXPLAIN ANALYZE and which indexes
each page and count used (the index audit of docs/benchmarks.md).
    ROWS=10000000 HTTP=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_tasks_10m ...

On PostgreSQL the rows arrive by COPY with the secondary indexes dropped, then the indexes are built
again from their own definitions (ten million rows: minutes, not hours); keep the database to reuse it.

Creates ROWS TaskResult rows with a realistic mix (20 task names, mostly successes, some failures,
retries and revocations, 4 workers, 3 queues, 10% from schedules, 20% launched by one of 50 people,
spread over 30 days, in the order they arrived) plus their TaskLaunch rows, then requests pages through Django's test client
in this process (no network) and prints p50/p95 and SQL queries per page for: the first page and
page 500 (by cursor) and page 499 reached back from it (its "Previous" link) with each filter alone
and combined, each sort in either order, the field search, and the task detail page.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from datetime import timedelta

import _setup  # noqa: F401  (private Redis, temporary database, Django settings)
from _setup import migrate, percentile

ROWS = int(os.environ.get("ROWS", "1000000"))
HTTP = os.environ.get("HTTP", "0") == "1"  # measure through daphne over HTTP, as Flower was measured
REPEAT = int(os.environ.get("REPEAT", "20"))
NAMES = [f"app{i % 4}.tasks.job_{i}_task" for i in range(20)]
STATES = ["SUCCESS"] * 85 + ["FAILURE"] * 6 + ["RETRY"] * 2 + ["REVOKED"] * 2 + ["PENDING"] * 3 + ["STARTED"] * 2
WORKERS = [f"worker{i}@host" for i in range(4)]
#: Text found in the arguments of some of the last day's tasks (row i has args "(i,)"; rows arrive in
#: order, so the last day holds the last 1/30 of them): the search has matches in its window.
SEARCHED = "(" + str(ROWS - ROWS // 60)[:4]
QUEUES = ["celery", "emails", "reports"]
#: Tasks still queued, running or waiting to retry are among the newest only, as on a live site
#: (older ones have ended, or been marked failed by the lost-task sweep).
IN_FLIGHT = ("PENDING", "STARTED", "RETRY")
IN_FLIGHT_FOR = timedelta(minutes=15)


def _rows(rows: int, users: list[int], now):
    """The generated (task result, launch) rows, in id order: the same mix every run (seeded). Ids
    follow date_created, as on a live site, whose rows are written as the tasks arrive: a day's
    rows lie together in the table, not scattered over all its pages."""
    rng = random.Random(42)
    span = 30 * 86400
    for i in range(rows):
        created = now - timedelta(seconds=span - (i + rng.random()) * span / rows)
        status = rng.choice(STATES)
        if status in IN_FLIGHT and created < now - IN_FLIGHT_FOR:
            status = "FAILURE"  # long over: the lost-task sweep has marked it failed
        began = created + timedelta(seconds=rng.uniform(0.001, 5)) if status != "PENDING" else None
        done = (began or created) + timedelta(seconds=rng.expovariate(1 / 2.0))
        task_id = str(uuid.UUID(int=rng.getrandbits(128)))
        periodic = f"schedule-{i % 10}" if i % 10 == 0 else None
        result = '{"rows": %d}' % i if status == "SUCCESS" else (
            '{"exc_type": "ValueError", "exc_message": ["bad row %d"]}' % i if status == "FAILURE" else None)
        finished = status in ("SUCCESS", "FAILURE", "REVOKED") and began is not None
        yield ((task_id, periodic, rng.choice(NAMES), '"(%d,)"' % i, '"{}"', status,
                rng.choice(WORKERS) if began else None, "application/json", "utf-8", result, created, began, done),
               (task_id, users[i % 50] if i % 5 == 0 else None, created, rng.choice(QUEUES), "[%d]" % i, "{}",
                (done - began).total_seconds() if finished else None,
                result if status in ("SUCCESS", "FAILURE", "REVOKED") else None))  # the trigger's copy (migration 0023)


RESULT_COLUMNS = ("task_id, periodic_task_name, task_name, task_args, task_kwargs, status, worker, content_type,"
                  " content_encoding, result, date_created, date_started, date_done")
LAUNCH_COLUMNS = "task_id, launched_by_id, created_at, queue, args, kwargs, runtime, finished_result"


def populate(rows: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    users = [get_user_model().objects.create_user(f"user{i}").pk for i in range(50)]
    now = timezone.now()
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        _populate_postgresql(rows, users, now)
    else:
        batch_size = 20_000
        generated = _rows(rows, users, now)
        with connection.cursor() as cursor:
            for offset in range(0, rows, batch_size):
                batch = [next(generated) for _ in range(min(batch_size, rows - offset))]
                with transaction.atomic():
                    cursor.executemany(f"INSERT INTO django_celery_results_taskresult ({RESULT_COLUMNS}) VALUES "
                                       f"({', '.join(['%s'] * 13)})", [r for r, _ in batch])
                    cursor.executemany(f"INSERT INTO dashboard_tasklaunch ({LAUNCH_COLUMNS}, parent_id, root_id,"
                                       f" group_id, retry_of) VALUES ({', '.join(['%s'] * 8)}, NULL, NULL, NULL, NULL)",
                                       [launch for _, launch in batch])
    with connection.cursor() as cursor:
        # what autovacuum does on a live site: without it the visibility map is empty and every
        # index-only scan reads the heap as well
        cursor.execute("VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE")
    print(f"created {rows:,} task rows (+ launches) in {time.perf_counter() - started:.1f} s", flush=True)


def _populate_postgresql(rows: int, users: list[int], now) -> None:
    """COPY into the two tables with their secondary indexes dropped, then build the indexes again
    (each from its own definition, as the migrations made it): minutes for ten million rows, where
    inserting row by row through the indexes takes hours."""
    from django.db import connection

    tables = ("django_celery_results_taskresult", "dashboard_tasklaunch")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
                       "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))", [list(tables)])
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        # The launches are written with their copy of an ended task's result: the trigger that
        # keeps it (migration 0023) would look for launches not copied yet, row by row.
        cursor.execute("ALTER TABLE django_celery_results_taskresult DISABLE TRIGGER USER")
        print(f"dropped {len(indexes)} secondary indexes; copying {rows:,} rows", flush=True)
        raw = connection.connection  # psycopg 3: COPY ... FROM STDIN with rows written one by one
        with raw.cursor() as copy_cursor:
            generated = _rows(rows, users, now)
            chunk = 1_000_000
            for offset in range(0, rows, chunk):
                batch = [next(generated) for _ in range(min(chunk, rows - offset))]
                with copy_cursor.copy(f"COPY django_celery_results_taskresult ({RESULT_COLUMNS}) FROM STDIN") as copy:
                    for result, _launch in batch:
                        copy.write_row(result)
                with copy_cursor.copy(f"COPY dashboard_tasklaunch ({LAUNCH_COLUMNS}) FROM STDIN") as copy:
                    for _result, launch in batch:
                        copy.write_row(launch)
                raw.commit()
                print(f"  {offset + len(batch):,} rows", flush=True)
        cursor.execute("ALTER TABLE django_celery_results_taskresult ENABLE TRIGGER USER")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in indexes:
            began = time.perf_counter()
            cursor.execute(definition)
            print(f"  index {name}: {time.perf_counter() - began:.0f} s", flush=True)


def measure(client, url: str, fetch=None) -> tuple[float, float, int, int]:
    """p50 and p95 of REPEAT uncached requests for `url` (through `fetch`, HTTP to daphne, when given;
    else Django's test client in this process), the SQL queries of one request, and the rows shown."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()  # the state counts are cached for seconds: measure them uncached
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}; no figures")
    query_count = len(queries)
    if connection.vendor == "postgresql":
        audit(url, [query["sql"] for query in queries.captured_queries])
    timings = []
    for _ in range(REPEAT):
        cache.clear()
        start = time.perf_counter()
        if fetch is None:
            client.get(url)
        else:
            fetch(url)
        timings.append((time.perf_counter() - start) * 1000)
    rows = response.content.decode().count('id="task-row-')
    return percentile(timings, 50), percentile(timings, 95), query_count, rows


#: Which index each URL's queries use (PostgreSQL's plans), and each query's time in EXPLAIN ANALYZE.
INDEXES_USED: dict[str, set[str]] = {}
SLOWEST_QUERY: dict[str, tuple[float, str]] = {}
QUERY_TIMES: dict[str, list[float]] = {}


def audit(url: str, statements: list[str]) -> None:
    """EXPLAIN (ANALYZE) every SELECT a request ran: note the indexes its plan uses (for the index
    audit: which page needs which index) and its slowest query's execution time."""
    from django.db import connection

    def walk(plan: dict):
        if "Index Name" in plan:
            yield plan["Index Name"]
        for child in plan.get("Plans", ()):
            yield from walk(child)

    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT") or "django_session" in sql or "auth_user" in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            plan = cursor.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        INDEXES_USED.setdefault(url, set()).update(walk(plan[0]["Plan"]))
        took = plan[0]["Execution Time"]
        QUERY_TIMES.setdefault(url, []).append(took)
        if took > SLOWEST_QUERY.get(url, (0.0, ""))[0]:
            SLOWEST_QUERY[url] = (took, sql[:160])


def print_index_audit(scenario_of: dict[str, str]) -> None:
    """Every index of the two task tables, and the scenarios whose queries used it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexrelname, relname, pg_size_pretty(pg_relation_size(indexrelid)) FROM "
                       "pg_stat_user_indexes WHERE relname IN ('django_celery_results_taskresult', "
                       "'dashboard_tasklaunch') ORDER BY relname, indexrelname")
        indexes = cursor.fetchall()
    print("\n| index | table | size | used by (scenario: page, counts, detail) |\n|---|---|---|---|")
    for name, table, size in indexes:
        users = sorted({scenario_of.get(url, url) for url, used in INDEXES_USED.items() if name in used})
        print(f"| {name} | {table.replace('django_celery_results_', '').replace('dashboard_', '')} | {size} | "
              f"{'; '.join(users) or '(none of these pages)'} |")


def _daphne_fetcher(staff):
    """Start daphne on this database (production settings) and return (fetch, stop): `fetch(path)`
    requests it over HTTP as `staff`, and stops the benchmark if any answer is not a 200."""
    import subprocess
    import urllib.request

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    port = _setup.free_port()
    daphne = subprocess.Popen([str(_setup.BIN / "daphne"), "--bind", "127.0.0.1", "--port", str(port),
                               "site_config.asgi:application"], cwd=_setup.BASE_DIR, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, DJANGO_ALLOWED_HOSTS="127.0.0.1"))
    session = SessionStore()
    session.update({SESSION_KEY: str(staff.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: staff.get_session_auth_hash()})
    session.create()
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}", "X-Forwarded-Proto": "https"}
    opener = urllib.request.build_opener(urllib.request.HTTPHandler)

    def fetch(path: str) -> None:
        with opener.open(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                         timeout=60) as response:
            response.read()
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status} over HTTP; no figures")

    _setup.wait_for_port(port, timeout=60)
    fetch("/dashboard/tasks/")  # fails loudly (no figures) if the page does not answer
    return fetch, daphne.terminate


def cursor_for_page(data: dict, page: int, size: int = 25) -> str:
    """The cursor that opens page `page` (computed once with OFFSET; the page itself uses it)."""
    from dashboard.monitor.filters import SORTS, TaskFilterForm, encode_cursor, launch_lookup, tasks_queryset

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
    lookup = launch_lookup(data) if sort == "received" else None
    if lookup is not None:  # the page walks TaskLaunch in the order received (filters._received_by_launch_rows)
        from django.db.models import Exists, OuterRef

        from dashboard.models import TaskLaunch
        from dashboard.monitor.filters import filtered_tasks

        launch = (TaskLaunch.objects.filter(**lookup)
                  .filter(Exists(filtered_tasks(data, include_launch=False).filter(task_id=OuterRef("task_id"))))
                  .order_by(f"{prefix}created_at", f"{prefix}id")[(page - 1) * size - 1: (page - 1) * size].first())
        return encode_cursor(sort, order, "next", (launch.created_at, launch.pk)) if launch else ""
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
    if os.environ.get("BUILD_ONLY") == "1":
        return
    staff, _ = get_user_model().objects.get_or_create(username="operator", defaults={"is_staff": True})
    client = Client(HTTP_HOST="127.0.0.1", secure=True)  # production settings: HTTPS only
    client.force_login(staff)
    fetch, stop = _daphne_fetcher(staff) if HTTP else (None, None)
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
        "search args": {"q": SEARCHED},
        # Free text found only in results: a success's ({"rows": 9833...}, through its launch's copy),
        # a failure's ("bad row 9833...", in the row), and a word in nearly every result (dense).
        "search a success's result": {"q": ": " + SEARCHED[1:]},
        "search a failure's error": {"q": "bad row " + SEARCHED[1:]},
        "search a common word": {"q": "rows"},
        "state+name+7 days": {"state": "FAILURE", "name": NAMES[3], "date_from": week_ago},
        "sort started": {"sort": "started"},
        "sort finished": {"sort": "finished"},
        "sort runtime": {"sort": "runtime"},
        "received, oldest first": {"order": "asc"},
        "sort name": {"sort": "name"},
        "sort state, Z to A": {"sort": "state", "order": "desc"},
        "search syntax": {"q": f"state:failure name:{NAMES[3]} worker:{WORKERS[1]}"},
        "search args:": {"q": "args:" + SEARCHED},
    }
    print(f"\n{connection.vendor}, {ROWS:,} rows, {REPEAT} requests each (ms)\n")
    print("| filter | page 1 p50 | page 1 p95 | page 500 p50 | page 500 p95 | back to 499 p50 | p95 | queries/page "
          "| rows | state counts p50 | p95 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    only = [name.strip() for name in os.environ.get("SCENARIOS", "").split(",") if name.strip()]
    scenario_of: dict[str, str] = {}
    for label, data in scenarios.items():
        if only and label not in only:
            continue
        for suffix, page in (("", "page"), ("counts/", "counts")):
            scenario_of["/dashboard/tasks/" + suffix + "?" + urlencode(data)] = f"{label}: {page}"
        p50, p95, queries, rows = measure(client, "/dashboard/tasks/?" + urlencode(data), fetch)
        cursor = cursor_for_page(data, 500)
        if cursor:
            scenario_of["/dashboard/tasks/?" + urlencode({**data, "cursor": cursor})] = f"{label}: page 500"
            q50, q95, queries500, _ = measure(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": cursor}), fetch)
            page500 = f"{q50:.1f} | {q95:.1f}"
            queries = f"{queries} / {queries500}"
        else:
            page500 = "(fewer pages) | –"
        if cursor:  # the way back: page 499 through page 500's "Previous" link (a keyset walked backwards)
            back = previous_cursor_of(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": cursor}))
            scenario_of["/dashboard/tasks/?" + urlencode({**data, "cursor": back})] = f"{label}: back to 499"
            b50, b95, _, _ = measure(client, "/dashboard/tasks/?" + urlencode({**data, "cursor": back}), fetch)
            page500 += f" | {b50:.1f} | {b95:.1f}"
        else:
            page500 += " | – | –"
        c50, c95, _, _ = measure(client, "/dashboard/tasks/counts/?" + urlencode(data), fetch)
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {page500} | {queries} | {rows} | {c50:.1f} | {c95:.1f} |",
              flush=True)
    task_id = TaskResult.objects.filter(status="FAILURE").values_list("task_id", flat=True)[1000]
    detail = f"/dashboard/tasks/{task_id}/"
    p50, p95, queries, _ = measure(client, detail, fetch)
    print(f"| task detail page | {p50:.1f} | {p95:.1f} | | | | | {queries} | | | |")
    if connection.vendor == "postgresql":
        print("task detail page, each query in EXPLAIN ANALYZE (ms): "
              + ", ".join(f"{took:.3f}" for took in QUERY_TIMES.get(detail, [])))
    if stop is not None:
        stop()
    if connection.vendor == "postgresql":
        print("\nSlowest query of each request in EXPLAIN ANALYZE (ms):\n")
        for url, (took, sql) in sorted(SLOWEST_QUERY.items(), key=lambda item: -item[1][0]):
            print(f"- {took:.2f} ms  {scenario_of.get(url, url)}: {sql}")
        scenario_of[detail] = "task detail page"
        print_index_audit(scenario_of)


if __name__ == "__main__":
    sys.exit(main())
