"""The production formation, run from the Procfile as docs/operations.md says: the build's static files, the
release step, then honcho with 2 web, 2 worker and 1 beat processes; DEBUG off, PostgreSQL, one Redis
shared by all.

It checks what only a formation of several processes of a kind can get wrong: a task started
through one web process moves live on a page served by the other; both workers answer under names
of their own; every process sees the same figures (readiness, metrics); static files carry hashed
names. The database is created for the run and dropped after it (FORMATION_DATABASE_URL names it;
by default a fresh name on the PostgreSQL server of TEST_POSTGRES_URL); without a PostgreSQL server
the test is skipped (failed with CI=true).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode, urlparse, urlunparse

import pytest

from site_config.devtools.local_redis import PrivateRedis, free_port
from tests.conftest import BASE_DIR, BIN, PASSWORD, WORKDIR, Process, service_missing
from tests.livetools import collect_until_final, percent_of, state_of, wait_for
from tests.metrics_helpers import value

pytestmark = [pytest.mark.live, pytest.mark.formation]

METRICS_TOKEN = "formation-" + secrets.token_hex(8)
STAFF = "operator"
WORKER_STATE = re.compile(r'data-hostname="([^"]+)" data-online="(true|false)"')
HASHED_CSS = re.compile(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"')


# --- the database: PostgreSQL, created for this run ---

def _database_url() -> str:
    explicit = os.environ.get("FORMATION_DATABASE_URL")
    if explicit:
        return explicit
    server = urlparse(os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
    return urlunparse(server._replace(path=f"/formation_{secrets.token_hex(4)}"))


def _admin_connection(url: str):
    import psycopg

    return psycopg.connect(urlunparse(urlparse(url)._replace(path="/postgres")), autocommit=True, connect_timeout=3)


@pytest.fixture
def formation_database():
    import psycopg
    from psycopg import sql

    url = _database_url()
    name = urlparse(url).path.lstrip("/")
    try:
        admin = _admin_connection(url)
    except psycopg.OperationalError as error:
        service_missing(f"no PostgreSQL server for the formation test ({error.__class__.__name__})")
    with admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield url
    with _admin_connection(url) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- the processes ---

def _two_free_ports() -> int:
    """A port P with P + 1 free too: honcho gives web.1 $PORT and web.2 $PORT + 1."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def _procfile(name: str) -> str:
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


@pytest.fixture
def formation(formation_database):
    redis = PrivateRedis(WORKDIR / "formation-redis").start()
    port = _two_free_ports()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "CELERY_", "METRICS_", "WEATHER_", "HONCHO_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1",
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=formation_database, REDIS_URL=redis.url,
        DJANGO_VAR_DIR=str(WORKDIR / "formation-var"), DJANGO_STATIC_ROOT=str(WORKDIR / "formation-static"),
        PORT=str(port), BIND_ADDRESS="127.0.0.1", CELERY_CONCURRENCY="1", METRICS_TOKEN=METRICS_TOKEN,
        DJANGO_SUPERUSER_USERNAME=STAFF, DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        # The tests speak to each web process as its proxy would (X-Forwarded-Proto: https), from
        # 127.0.0.1: a trusted proxy; the pages' own origins are the websockets' allowed origins.
        TRUSTED_PROXIES="127.0.0.1", SITE_URL=f"https://127.0.0.1:{port}",
        DJANGO_CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{port},https://127.0.0.1:{port + 1}",
    )
    # The build (static files with the code: the Makefile's `static` step), then the release.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], env=env,
                   cwd=BASE_DIR, check=True, capture_output=True, timeout=300)
    release_log = WORKDIR / "formation-release.log"
    with open(release_log, "wb") as log:
        release = subprocess.run(["sh", "-c", _procfile("release")], env=env, cwd=BASE_DIR, stdout=log,
                                 stderr=subprocess.STDOUT, timeout=300)
    assert release.returncode == 0, release_log.read_text()[-4000:]
    subprocess.run([sys.executable, "manage.py", "ensure_staff"], env=env, cwd=BASE_DIR, check=True,
                   capture_output=True, timeout=120)
    honcho = Process("formation", [sys.executable, "-m", "honcho", "start", "-f", "Procfile",
                                   "-c", "web=2,worker=2,beat=1", "web", "worker", "beat"], env)
    try:
        deadline = time.monotonic() + 90
        while not (honcho.log().count("Listening on TCP address") >= 2 and honcho.log().count(" ready.") >= 2
                   and "beat: Starting" in honcho.log()):
            if honcho.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the formation did not start:\n{honcho.log()[-6000:]}")
            time.sleep(0.2)
        yield {"web": [Web(port), Web(port + 1)], "redis": redis, "log": honcho.log}
    finally:
        honcho.stop(timeout=30)
        redis.stop()


class Web:
    """One web process, spoken to as the proxy in front of it would: X-Forwarded-Proto https."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        all_headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            all_headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin,
                                "Referer": f"{self.origin}{path}", "X-CSRFToken": self.cookies.get("csrftoken", "")})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.text = response.read().decode(errors="replace")
        for header, content in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = content.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        return response

    def get(self, path: str, **headers):
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict):
        return self.request("POST", path, form=form)


def _log_in(web: Web) -> None:
    web.get("/accounts/login/")
    response = web.post("/accounts/login/", {"username": STAFF, "password": PASSWORD})
    assert response.status == 302, response.text[-2000:]
    assert "sessionid" in web.cookies


def _watch_on(web: Web, path: str, cookies: dict):
    from websockets.sync.client import connect

    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return connect(f"ws://127.0.0.1:{web.port}{path}", additional_headers={"Cookie": cookie, "Origin": web.origin},
                   open_timeout=10)


def _ping(redis_url: str, expected: int) -> list[str]:
    """Names of the workers that answer a ping: back as soon as `expected` have answered."""
    from celery import Celery

    # Not the current app: shared tasks of this test process must keep resolving to the site's.
    app = Celery(broker=redis_url, set_as_current=False)
    try:
        return sorted(name for reply in app.control.ping(timeout=10, limit=expected) for name in reply)
    finally:
        app.close()


# --- the test ---

def test_production_formation_of_two_web_two_workers_and_beat(formation):
    web1, web2 = formation["web"]

    # A task started through web 1 moves live on a page of web 2.
    _log_in(web1)
    started = web1.post("/dashboard/tasks/demo/", {"steps": 25, "delay_ms": 120, "fail_at_step": ""})
    assert started.status == 302, started.text[-2000:]
    task_id = re.search(r"/dashboard/tasks/([\w-]+)/$", started.getheader("Location")).group(1)
    with _watch_on(web2, f"/ws/tasks/{task_id}/", web1.cookies) as ws:
        messages = collect_until_final(ws, timeout=60)
    states = [state_of(message) for message in messages]
    percents = [int(p.rstrip("%")) for p in map(percent_of, messages) if p and p.endswith("%")]
    assert states[-1] == "SUCCESS"
    assert states.count("PROGRESS") >= 3, states
    assert percents == sorted(percents) and percents[-1] == 100

    # Both workers answer, under names of their own, on web 2's workers page and to `inspect ping`.
    web2.cookies = dict(web1.cookies)
    expected = {"worker.1", "worker.2"}

    def both_online():
        page = web2.get("/dashboard/workers/")
        online = {name for name, state in WORKER_STATE.findall(page.text) if state == "true"}
        return online if {name.split("@")[0] for name in online} == expected else None

    online = wait_for(both_online, timeout=30, interval=1)
    assert len(online) == 2
    assert sorted(name.split("@")[0] for name in _ping(formation["redis"].url, len(expected))) == sorted(expected)
    assert "DuplicateNodenameWarning" not in formation["log"]()

    # Static files under hashed names, cached for good.
    home = web1.get("/")
    assert home.status == 200
    stylesheet = HASHED_CSS.search(home.text)
    assert stylesheet, "the stylesheet is not served under a hashed name"
    css = web2.get(stylesheet.group(1))
    assert css.status == 200 and "immutable" in css.getheader("Cache-Control", "")

    # Each web process is ready and sees both workers; either one serves the whole formation's metrics.
    for web in (web1, web2):
        response = web.get("/readyz", Authorization=f"Bearer {METRICS_TOKEN}")
        body = json.loads(response.text)
        assert response.status == 200 and body["status"] == "ok", body
        assert body["checks"]["workers"]["online"] == 2
    assert web2.get("/metrics").status == 403

    def metrics_show_the_task():
        from prometheus_client.parser import text_string_to_metric_families

        text = web2.get("/metrics", Authorization=f"Bearer {METRICS_TOKEN}").text
        samples = {(s.name, frozenset(s.labels.items())): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        done = value(samples, "site_tasks_finished_total", task="dashboard.tasks.demo_job_task", outcome="success")
        return samples if done >= 1 else None

    samples = wait_for(metrics_show_the_task, timeout=15, interval=1)
    assert value(samples, "site_workers_online") == 2
    assert value(samples, "site_tasks_queued_total", task="dashboard.tasks.demo_job_task", queue="celery") >= 1

    # Beat runs alongside (one of it, as docs/operations.md says).
    assert formation["log"]().count("beat: Starting") == 1
