"""Loaded before Django (pyproject: `-p tests.plugin`): gives the test session its own world.

- a private Redis on a free port (never the machine's shared one), REDIS_URL pointing at it;
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

from site_config.devtools.local_redis import PrivateRedis

_workdir = Path(tempfile.mkdtemp(prefix="site-tests-"))
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
(_workdir / "static").mkdir()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

WORKDIR = _workdir
REDIS = _redis


_keep_workdir = False


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """On failure, keep the folder with the worker's, daphne's and Redis's logs, and say where."""
    global _keep_workdir
    if exitstatus not in (0, 5):
        _keep_workdir = True
        terminalreporter.write_line(f"Logs of the processes the tests started: {_workdir}")


def _cleanup() -> None:
    _redis.stop()
    if not _keep_workdir:
        shutil.rmtree(_workdir, ignore_errors=True)


atexit.register(_cleanup)
