"""The formation behind Debian's pgbouncer in transaction pooling, the usual way many processes share
one PostgreSQL: the daily report, an export and the live pages work, and PostgreSQL never holds more
connections for the site than pgbouncer's pool, however many processes and threads ask.

Started by the test on a free port, in front of a database created for the run (the formation
test's fixture); skipped without PostgreSQL or pgbouncer (`make system-deps` installs it).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from site_config.devtools.local_redis import PrivateRedis, free_port
from tests.conftest import BASE_DIR, BIN, PASSWORD, WORKDIR, Process, service_missing
from tests.livetools import collect_until_final, state_of, wait_for
from tests.test_formation import STAFF, Web, _log_in, _procfile, _two_free_ports, _watch_on, formation_database  # noqa: F401

pytestmark = [pytest.mark.live, pytest.mark.formation, pytest.mark.serial]

POOL_SIZE = 4  # pgbouncer's server connections for the site's database
TASK_PAGE = re.compile(r"/dashboard/tasks/([\w-]+)/$")


def _pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if not found:
        service_missing("pgbouncer is not installed (make system-deps installs Debian's pgbouncer)")
    return found


class PgBouncer:
    """pgbouncer in transaction mode on a free port, in front of one database."""

    def __init__(self, database_url: str) -> None:
        server = urlparse(database_url)
        self.name = server.path.lstrip("/")
        self.port = free_port()
        # pgbouncer will not run as root: it drops to the postgres user, who must read the folder.
        self.folder = Path(f"/tmp/pgbouncer-{os.getpid()}-{self.port}")
        self.folder.mkdir(mode=0o755)
        (self.folder / "users.txt").write_text(f'"{server.username or "postgres"}" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{self.name} = host={server.hostname} port={server.port or 5432} dbname={self.name}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.folder / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
            f"max_client_conn = 500\nlogfile = {self.folder / 'pgbouncer.log'}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        for path in self.folder.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        self.folder.chmod(0o777)
        args = [_pgbouncer_binary(), str(config)]
        if os.geteuid() == 0:
            args[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = urlunparse(server._replace(netloc=f"{server.username or 'postgres'}@127.0.0.1:{self.port}"))
        import psycopg

        def answers():
            try:
                psycopg.connect(self.url, connect_timeout=2, prepare_threshold=None).close()
                return True
            except psycopg.OperationalError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"pgbouncer exited: {self.log()}") from None
                return False

        wait_for(answers, timeout=20, interval=0.2)

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class ConnectionCount(threading.Thread):
    """Samples PostgreSQL's connections to one database (pg_stat_activity) until stopped."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.url = urlunparse(urlparse(database_url)._replace(path="/postgres"))
        self.name_ = urlparse(database_url).path.lstrip("/")
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stopped.is_set():
                count = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                           (self.name_,)).fetchone()[0]
                self.samples.append(count)
                time.sleep(0.1)


@pytest.fixture
def formation_behind_pgbouncer(formation_database):  # noqa: F811  (the imported fixture)
    bouncer = PgBouncer(formation_database)
    redis = PrivateRedis(WORKDIR / "pgbouncer-redis").start()
    port = _two_free_ports()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CELERY_", "METRICS_", "WEATHER_", "HONCHO_", "DATABASE_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1",
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=bouncer.url, DATABASE_TRANSACTION_POOLING="1", DJANGO_DB_POOL_MAX_SIZE="6",
        REDIS_URL=redis.url, DJANGO_VAR_DIR=str(WORKDIR / "pgbouncer-var"),
        DJANGO_STATIC_ROOT=str(WORKDIR / "pgbouncer-static"), PORT=str(port), BIND_ADDRESS="127.0.0.1",
        CELERY_CONCURRENCY="2", DJANGO_SUPERUSER_USERNAME=STAFF, DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        TRUSTED_PROXIES="127.0.0.1", SITE_URL=f"https://127.0.0.1:{port}",
        DJANGO_CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{port},https://127.0.0.1:{port + 1}",
    )
    for command in (["manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                    ["manage.py", "migrate", "--noinput"], ["manage.py", "ensure_staff"]):
        done = subprocess.run([sys.executable, *command], env=env, cwd=BASE_DIR, capture_output=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    counter = ConnectionCount(formation_database)
    counter.start()
    honcho = Process("formation-pgbouncer", [sys.executable, "-m", "honcho", "start", "-f", "Procfile",
                                             "-c", "web=2,worker=1", "web", "worker"], env)
    try:
        deadline = time.monotonic() + 90
        while not (honcho.log().count("Listening on TCP address") >= 2 and " ready." in honcho.log()):
            if honcho.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the formation did not start:\n{honcho.log()[-6000:]}")
            time.sleep(0.2)
        yield {"web": [Web(port), Web(port + 1)], "log": honcho.log, "counter": counter, "bouncer": bouncer,
               "database": formation_database}
    finally:
        honcho.stop(timeout=30)
        counter.stopped.set()
        counter.join(timeout=5)
        redis.stop()
        bouncer.stop()


def _started_task(response) -> str:
    assert response.status == 302, response.text[-2000:]
    return TASK_PAGE.search(response.getheader("Location")).group(1)


def _finishes_live(web: Web, task_id: str, cookies: dict) -> list[str]:
    with _watch_on(web, f"/ws/tasks/{task_id}/", cookies) as ws:
        first = ws.recv(timeout=20)
        if state_of(first) in ("SUCCESS", "FAILURE", "REVOKED"):
            return [first]
        return [first, *collect_until_final(ws, timeout=90)]


def test_the_formation_behind_pgbouncer_in_transaction_mode_stays_within_the_pool(formation_behind_pgbouncer):
    import psycopg

    web1, web2 = formation_behind_pgbouncer["web"]
    _log_in(web1)
    web2.cookies = dict(web1.cookies)

    # The daily report, run now from its schedule: its rows are read with an iterator in a transaction.
    with psycopg.connect(formation_behind_pgbouncer["database"]) as connection:
        schedule = connection.execute(
            "SELECT id FROM django_celery_beat_periodictask WHERE name = 'daily-report'").fetchone()[0]
    web1.get("/dashboard/schedules/")
    report = _started_task(web1.post(f"/dashboard/schedules/{schedule}/run/", {}))
    assert state_of(_finishes_live(web2, report, web1.cookies)[-1]) == "SUCCESS"

    # An export of the task list, watched live on the other web process, then downloaded.
    web1.get("/dashboard/exports/new/?kind=tasks")
    export = _started_task(web1.post("/dashboard/exports/new/", {"kind": "tasks"}))
    assert state_of(_finishes_live(web2, export, web1.cookies)[-1]) == "SUCCESS"
    page = web1.get(f"/dashboard/exports/task/{export}/")
    assert page.status in (200, 302), page.text[-1000:]

    # A demo job moves live, and the pages (each a handful of queries on both web processes) answer.
    job = _started_task(web1.post("/dashboard/tasks/demo/", {"steps": 20, "delay_ms": 50, "fail_at_step": ""}))
    messages = _finishes_live(web2, job, web1.cookies)
    assert state_of(messages[-1]) == "SUCCESS" and len(messages) >= 3
    for path in ("/dashboard/", "/dashboard/tasks/", "/dashboard/reports/", "/dashboard/workers/", "/"):
        for web in (web1, web2):
            assert web.get(path).status == 200, path

    counter = formation_behind_pgbouncer["counter"]
    assert counter.samples and max(counter.samples) >= 1
    assert max(counter.samples) <= POOL_SIZE, (max(counter.samples), formation_behind_pgbouncer["bouncer"].log()[-2000:])
    log = formation_behind_pgbouncer["log"]()
    assert "prepared statement" not in log and not re.search(r'cursor "[^"]*" does not exist', log), log[-4000:]
