"""Loaded before Django (pyproject: `-p tests.plugin`): gives the test process its own world.

Every pytest process loads it, so under pytest-xdist (`-n`) each worker process has a world of its
own: its own temporary folder, Redis and SQLite file; on PostgreSQL pytest-django suffixes the test
database's name with the worker's id (test_<name>_gw0), and tests.conftest hands that name on to the
processes a test starts.

- a private Redis on a free port (never the machine's shared one), REDIS_URL pointing at it; with
  CI=true it must be the machine's `redis-server` (no fallback: CI has one, a missing one fails);
- DJANGO_VAR_DIR and the SQLite database in a temporary folder, unless TEST_DATABASE_URL names
  another database (the PostgreSQL run in `make test`);
- DJANGO_ALLOW_ASYNC_UNSAFE, because Playwright's sync API keeps an event loop in the test thread
  and Django would otherwise refuse ORM calls made by the test itself.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from site_config.devtools.local_redis import PrivateRedis

if os.environ.get("CI", "").lower() == "true" and not shutil.which("redis-server"):
    raise RuntimeError("CI=true and no redis-server on the PATH: install Redis (`make system-deps` does).")

_workdir = Path(tempfile.mkdtemp(prefix=f"site-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"))
_redis = PrivateRedis(_workdir / "redis").start()

os.environ["REDIS_URL"] = _redis.url
for _role_variable in ("CELERY_BROKER_URL", "CACHE_REDIS_URL", "CHANNEL_LAYER_REDIS_URL", "REDIS_KEYS_URL", "CHANNEL_LAYER_PREFIX"):
    os.environ.pop(_role_variable, None)  # every role on the private Redis
os.environ["DJANGO_VAR_DIR"] = str(_workdir / "var")
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_workdir / 'var' / 'test.sqlite3'}"
os.environ["DJANGO_DEBUG"] = "1"
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
os.environ["DJANGO_STATIC_ROOT"] = str(_workdir / "static")
# Exports read and report in batches of two rows, so a test's handful of rows makes several batches
# (a bar that moves, a cancel between two batches); the worker and daphne inherit it.
os.environ["EXPORT_BATCH_ROWS"] = "2"
# Pages load their scripts and styles from the browser's cache, as in production, instead of asking
# daphne again for each one on every page (DEBUG's default of 0 s).
os.environ["STATIC_MAX_AGE"] = "600"
# The fan-out's probe round every second (production: 5 s): a language nobody watches any more lapses
# from the live-language record in 8 s instead of 20 (dashboard/live/languages.py mark_seconds).
os.environ["LIVE_PROBE_INTERVAL"] = "1"
(_workdir / "static").mkdir()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

WORKDIR = _workdir
REDIS = _redis


_keep_workdir = False
_failed_worker_workdirs: list[str] = []


def pytest_sessionfinish(session, exitstatus):
    """On failure, keep the folder with the worker's, daphne's and Redis's logs; an xdist worker
    process also tells the main process where it is."""
    global _keep_workdir
    # The main process of an xdist run (`dist` set: it hands tests out) runs none itself.
    if exitstatus not in (0, 5) and getattr(session.config.option, "dist", "no") == "no":
        _keep_workdir = True
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["failed_workdir"] = str(_workdir)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """In the main process of an xdist run: note the folder of each worker process that failed."""
    workdir = getattr(node, "workeroutput", {}).get("failed_workdir")
    if workdir:
        _failed_worker_workdirs.append(workdir)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say where the logs of the processes the tests started were kept."""
    for workdir in [str(_workdir)] * _keep_workdir + _failed_worker_workdirs:
        terminalreporter.write_line(f"Logs of the processes the tests started: {workdir}")


def _cleanup() -> None:
    _redis.stop()
    if not _keep_workdir:
        shutil.rmtree(_workdir, ignore_errors=True)


atexit.register(_cleanup)
