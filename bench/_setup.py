"""Shared set-up for benchmarks: a private Redis, a temporary database, Django configured.

Import this module first in a benchmark script (before anything from Django):
it sets REDIS_URL / DATABASE_URL / DJANGO_VAR_DIR for this process and its children.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from site_config.devtools.local_redis import PrivateRedis, free_port  # noqa: E402

WORKDIR = Path(tempfile.mkdtemp(prefix="site-bench-"))
REDIS = PrivateRedis(WORKDIR / "redis").start()
os.environ["REDIS_URL"] = REDIS.url
os.environ["DJANGO_VAR_DIR"] = str(WORKDIR / "var")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORKDIR / 'var' / 'bench.sqlite3'}")
os.environ["DJANGO_DEBUG"] = "0"
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SITE_URL", "https://bench.example")  # required with DEBUG off
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
os.environ["DJANGO_SETTINGS_MODULE"] = "site_config.settings"
os.environ["DJANGO_STATIC_ROOT"] = str(WORKDIR / "static")
BIN = Path(sys.executable).parent


_keep_workdir = False


def _cleanup() -> None:
    REDIS.stop()
    if not _keep_workdir:
        shutil.rmtree(WORKDIR, ignore_errors=True)


atexit.register(_cleanup)


def migrate() -> None:
    """Migrate the temporary database and collect static files (production settings need them)."""
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *command], check=True, cwd=BASE_DIR)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine (every core, every process, ours or not) has been busy (Linux /proc)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class RunFailed(SystemExit):
    """A benchmark run in which some request did not do what a user asked: it has no figures."""


def require_clean(label: str, errors: int, total: int, detail: str = "") -> None:
    """Stop the benchmark (exit status 1, no figures printed) when any of `total` requests failed or
    was refused: the times of refused requests are not the times of the work."""
    if errors:
        global _keep_workdir
        _keep_workdir = True  # the processes' logs say why
        raise RunFailed(f"{label}: {errors} of {total} requests failed or were refused; no figures printed. "
                        f"{detail}".strip())


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.05)


def staff_cookie(username: str = "bench") -> str:
    """A logged-in staff session (Django must be set up), as a Cookie header value."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


__all__ = ["BASE_DIR", "BIN", "REDIS", "WORKDIR", "cpu_seconds", "free_port", "machine_busy_seconds", "migrate",
           "percentile", "staff_cookie", "wait_for_port"]
