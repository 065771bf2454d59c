"""`make run`: everything a fresh clone needs to serve the site with a worker and beat.

Uses REDIS_URL when set; else starts a private Redis for this session (stopped on exit), never one
that happens to answer on 6379. Weather comes from the real Open-Meteo when it answers at start-up,
else from a local stand-in (site_config/devtools/weather_upstream.py). Then migrates, makes sure a
staff account exists, adds demo content when this migrate created the tables (DEMO_CONTENT), and
starts the Procfile's web, worker and beat processes under a small supervisor that restarts a
process that exits. Ctrl-C stops everything, letting a running job finish (Ctrl-C twice to hurry it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from site_config.devtools.local_redis import PrivateRedis, redis_answers
from site_config.devtools.weather_upstream import weather_upstream_choose

BASE_DIR = Path(__file__).resolve().parents[2]  # the project root: site_config/devtools/run_local.py


MANAGE = [sys.executable, str(BASE_DIR / "manage.py")]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}  # the same words as settings.env_bool


def database_is_fresh(env: dict[str, str]) -> bool:
    """True when no migration has been applied to the database yet (a new SQLite file, an empty
    PostgreSQL database): the migrate about to run is the one that creates the tables."""
    plan = subprocess.run([*MANAGE, "showmigrations", "--plan"], env=env, cwd=BASE_DIR, check=True,
                          capture_output=True, text=True).stdout
    return not any(line.lstrip().startswith("[X]") for line in plan.splitlines())


def demo_content_decision(*, fresh: bool, env: dict[str, str]) -> tuple[list[str] | None, str]:
    """Whether `make run` fills the database with demo content: the command's extra arguments (None:
    it does not) and a line saying why.

    DEMO_CONTENT: on (default) on a database this run created, when DJANGO_DEBUG is on; 0 never;
    `force` also with DJANGO_DEBUG off (the command itself refuses that without --force)."""
    wanted = env.get("DEMO_CONTENT", "1").strip().lower()
    if wanted not in _TRUE | _FALSE | {"force"}:
        raise ValueError(f"DEMO_CONTENT={env['DEMO_CONTENT']!r}: use 1 (the default), 0 or force.")
    if wanted in _FALSE:
        return None, "Demo content: off (DEMO_CONTENT=0)."
    if not fresh:
        return None, "Demo content: not added, the database already existed (manage.py demo_content adds it)."
    debug = env.get("DJANGO_DEBUG", "0").strip().lower() in _TRUE
    if not debug and wanted != "force":
        return None, "Demo content: not added, DJANGO_DEBUG is off (DEMO_CONTENT=force adds it anyway)."
    return (["--force"] if wanted == "force" else []), \
        "Demo content: a new database, so adding demo posts, members, comments, tasks and reports (DEMO_CONTENT=0 turns this off)."


def database_prepare(env: dict[str, str]) -> bool:
    """Migrate, make sure a staff account exists, and add demo content when this migrate created the
    tables. Returns whether demo content was added."""
    fresh = database_is_fresh(env)
    subprocess.run([*MANAGE, "migrate", "--noinput", "-v", "1"], env=env, check=True, cwd=BASE_DIR)
    subprocess.run([*MANAGE, "ensure_staff"], env=env, check=True, cwd=BASE_DIR)
    extra, why = demo_content_decision(fresh=fresh, env=env)
    print(why, flush=True)
    if extra is None:
        return False
    if subprocess.run([*MANAGE, "demo_content", *extra], env=env, cwd=BASE_DIR).returncode != 0:
        print("Demo content could not be added (see above); the site starts without it.", flush=True)
        return False
    return True


def main() -> int:
    env = dict(os.environ)
    env.setdefault("BIND_ADDRESS", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("DJANGO_DEBUG", "1")  # local development; settings default to off
    env.setdefault("WEB_DRAIN_SECONDS", "0")  # no load balancer to drain here: Ctrl-C stops at once
    # The Procfile names daphne and celery: take them from this interpreter's environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    try:
        demo_content_decision(fresh=True, env=env)  # a bad DEMO_CONTENT stops here, before anything starts
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    private = None
    if env.get("REDIS_URL"):
        parsed = urlparse(env["REDIS_URL"])
        if not redis_answers(parsed.hostname or "127.0.0.1", parsed.port or 6379):
            print(f"REDIS_URL={env['REDIS_URL']} does not answer. Start that Redis, or unset REDIS_URL.", file=sys.stderr)
            return 1
    else:
        # Never a Redis that happens to answer on 6379: another project's Celery on it would share our
        # queues, and the channel layer's pub/sub ignores database numbers.
        private = PrivateRedis(BASE_DIR / "var" / "redis").start()
        env["REDIS_URL"] = private.url
        print(f"Started a private Redis for this session at {private.url} (stopped on exit).")
    weather = None
    try:
        # The real Open-Meteo when it answers within 2 s, else the local stand-in (and the page says so).
        weather = weather_upstream_choose(env, cwd=BASE_DIR)
        print(weather.message)
        database_prepare(env)
        print(f"\nServing http://{env['BIND_ADDRESS']}:{env['PORT']}/  (Ctrl-C stops web, worker, beat)\n", flush=True)
        # The supervisor keeps each process up and stops them gently (site_config/devtools/supervisor.py).
        from site_config.devtools.supervisor import Supervisor, procfile_entries  # noqa: PLC0415

        entries = procfile_entries(BASE_DIR / "Procfile")
        return Supervisor({name: entries[name] for name in ("web", "worker", "beat")}, env=env, cwd=BASE_DIR).run()
    except subprocess.CalledProcessError as error:
        return error.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if weather:
            weather.stop()
        if private:
            private.stop()


if __name__ == "__main__":
    sys.exit(main())
