"""Benchmark: batched clean-up of 1,000,000 task results (dashboard/monitor/maintenance.py).

Creates ROWS task-result rows (90% older than the retention age), starts daphne serving the site,
then runs the clean-up in its own process while requesting the staff task list page over and over.
Prints the clean-up's time and the clean-up process's peak memory (target: under 200 MB), and the
task list page's p50/p95 before and during the clean-up.

    .venv/bin/python bench/cleanup_bench.py            # 1,000,000 rows, SQLite in a temp folder
    ROWS=100000 .venv/bin/python bench/cleanup_bench.py
    DATABASE_URL=postgres://... .venv/bin/python bench/cleanup_bench.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from site_config.devtools.local_redis import PrivateRedis, free_port  # noqa: E402

ROWS = int(os.environ.get("ROWS", "1000000"))
OLD_SHARE = 0.9
BATCH = int(os.environ.get("TASK_RESULT_CLEANUP_BATCH_SIZE", "5000"))

WORKDIR = Path(tempfile.mkdtemp(prefix="cleanup-bench-"))
REDIS = PrivateRedis(WORKDIR / "redis").start()
os.environ.update(
    REDIS_URL=REDIS.url,
    DJANGO_VAR_DIR=str(WORKDIR / "var"),
    DJANGO_DEBUG="0",
    DJANGO_SECURE_SSL_REDIRECT="0",
    SITE_URL=os.environ.get("SITE_URL", "https://bench.example"),
    DJANGO_LOG_LEVEL="WARNING",
    DJANGO_SETTINGS_MODULE="site_config.settings",
    DJANGO_STATIC_ROOT=str(WORKDIR / "static"),
    TASK_RESULT_CLEANUP_BATCH_SIZE=str(BATCH),
)
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORKDIR / 'var' / 'bench.sqlite3'}")

# Run in a separate interpreter so its peak RSS is the clean-up's alone (plus Django's own start-up).
CLEANUP_CHILD = """
import resource, sys, time, json
import django
django.setup()
from datetime import timedelta
from dashboard.monitor.maintenance import task_results_cleanup
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
counts = task_results_cleanup(older_than=timedelta(days=30), batch_size=int(sys.argv[1]))
elapsed = time.perf_counter() - started
print(json.dumps({"counts": counts, "seconds": elapsed, "baseline_kb": baseline,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def fill(rows: int) -> float:
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone
    from django_celery_results.models import TaskResult

    for command in (["migrate"], ["collectstatic"]):  # DEBUG is off: the page needs the static manifest
        subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *command, "--noinput", "-v", "0"], check=True, cwd=BASE_DIR)
    table = TaskResult._meta.db_table
    columns = ["task_id", "status", "task_name", "result", "date_created", "date_started", "date_done", "content_type", "content_encoding", "meta"]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    now = timezone.now()
    old, new = now - timezone.timedelta(days=60), now - timezone.timedelta(days=1)
    started = time.perf_counter()
    chunk = 20000
    for offset in range(0, rows, chunk):
        values = []
        for i in range(offset, min(rows, offset + chunk)):
            # Old and new rows interleaved, as on a real site where ids and ages do not line up.
            when = new if i % 10 == 0 else old
            values.append((f"bench-{i:07d}", "SUCCESS", "bench.tasks.sample_task", '{"ok": true}', when, when, when,
                           "application/json", "utf-8", "{}"))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, values)
    elapsed = time.perf_counter() - started
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bench-staff", password="bench-password-123", is_staff=True)
    connection.close()
    return elapsed


def login_cookie(base_url: str) -> str:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username="bench-staff")
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def page_times(url: str, cookie: str, stop: threading.Event, out: list[float], errors: list[str]) -> None:
    while not stop.is_set():
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                assert response.status == 200
            out.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 - a benchmark records failures, it does not stop
            errors.append(repr(error))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    print(f"Filling {ROWS:,} task results ({OLD_SHARE:.0%} older than 30 days)...", flush=True)
    fill_seconds = fill(ROWS)
    print(f"  filled in {fill_seconds:.1f} s", flush=True)

    port = free_port()
    daphne = subprocess.Popen([str(Path(sys.executable).parent / "daphne"), "--bind", "127.0.0.1", "--port", str(port),
                               "site_config.asgi:application"], cwd=BASE_DIR, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, DJANGO_ALLOWED_HOSTS="127.0.0.1"))
    url = f"http://127.0.0.1:{port}/dashboard/tasks/"
    try:
        cookie = login_cookie(url)
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": cookie}), timeout=30).read()
                break
            except Exception:  # noqa: BLE001
                time.sleep(0.2)

        before: list[float] = []
        errors: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(target=page_times, args=(url, cookie, stop, before, errors))
        thread.start()
        time.sleep(10)
        stop.set()
        thread.join()

        during: list[float] = []
        stop = threading.Event()
        thread = threading.Thread(target=page_times, args=(url, cookie, stop, during, errors))
        thread.start()
        child = subprocess.run([sys.executable, "-c", CLEANUP_CHILD, str(BATCH)], cwd=BASE_DIR, capture_output=True,
                               text=True, env=dict(os.environ, DJANGO_LOG_LEVEL="WARNING"))
        stop.set()
        thread.join()
        if child.returncode:
            print(child.stderr, file=sys.stderr)
            return 1
        outcome = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        daphne.terminate()
        daphne.wait()
        REDIS.stop()
        shutil.rmtree(WORKDIR, ignore_errors=True)

    if errors:
        print(f"{len(errors)} task list requests failed during the run (first: {errors[0]}); no figures.",
              file=sys.stderr)
        return 1
    database = os.environ["DATABASE_URL"].split(":", 1)[0]
    print(f"\nclean-up of {ROWS:,} task results on {database}, batches of {BATCH:,} primary keys")
    print(f"  deleted:              {outcome['counts']['deleted_results']:,} rows (kept {ROWS - outcome['counts']['deleted_results']:,})")
    print(f"  time:                 {outcome['seconds']:.1f} s")
    print(f"  peak memory (RSS):    {outcome['peak_kb'] / 1024:.0f} MB (Django loaded, before the clean-up: {outcome['baseline_kb'] / 1024:.0f} MB)")
    print(f"  task list page before: p50 {pct(before, 50) * 1000:.0f} ms, p95 {pct(before, 95) * 1000:.0f} ms ({len(before)} requests)")
    print(f"  task list page during: p50 {pct(during, 50) * 1000:.0f} ms, p95 {pct(during, 95) * 1000:.0f} ms ({len(during)} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
