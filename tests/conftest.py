"""Fixtures that start the real parts: a Celery worker, daphne, websocket clients, Chromium.

The private Redis comes from tests/plugin.py. Tests that talk to the worker or daphne use the
`transactional_db` fixture so their rows are committed and the other processes can see them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import override_settings

from site_config.devtools.local_redis import free_port
from tests.plugin import REDIS, WORKDIR

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = "correct-horse-battery-staple"


def _child_database_url() -> str:
    """DATABASE_URL for child processes: the *test* database pytest-django created."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    parsed = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parsed._replace(path=f"/{name}"))


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_child_database_url(),
        REDIS_URL=REDIS.url,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


class Process:
    """A child process whose output goes to a log file that failing tests can print.

    `live=True` (workers, daphne, beat, Flower): only a test marked `live` may start one, so the
    fast lane (`make test-fast`, which deselects `live`) can never start one by accident. Small
    local fakes (the fake Open-Meteo) pass `live=False`.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], *, live: bool = True,
                 cwd: Path = BASE_DIR) -> None:
        if live:
            _require_live_marker(name)
        self.name = name
        self.log_path = WORKDIR / f"{name}.log"
        self._log = open(self.log_path, "ab")
        self._log_start = self._log.tell()  # a restarted process appends: wait for *its* lines
        self.popen = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        """What this process has written so far."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {text!r} within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


def start_worker(name: str = "worker", *extra_args: str, env: dict[str, str] | None = None) -> Process:
    """Start a Celery worker that also runs the tests' own tasks (tests/worker_tasks.py); `env` adds
    variables (e.g. a test SMTP port). Call .stop() when done."""
    worker = Process(
        name,
        [str(BIN / "celery"), "--app", "site_config", "worker", "--loglevel", "INFO", "--pool", "prefork",
         "--concurrency", "2", "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip",
         "--include", "tests.worker_tasks", *extra_args],
        child_env(**(env or {})),
    )
    worker.wait_for_log("ready.")
    return worker


def start_daphne(name: str = "daphne", env: dict[str, str] | None = None) -> Process:
    """Start daphne serving the site (tests/asgi.py: with the tests' tasks known) on a free port;
    `.url` and `.ws_url` give its addresses."""
    port = free_port()
    # PORT as the Procfile's daphne gets it: with DEBUG on, loopback on it is an allowed websocket Origin.
    server = Process(name, [str(BIN / "daphne"), "--bind", "127.0.0.1", "--port", str(port),
                            "tests.asgi:application"], child_env(PORT=str(port), **(env or {})))
    server.wait_for_log("Listening on TCP address")
    server.url = f"http://127.0.0.1:{port}"
    server.ws_url = f"ws://127.0.0.1:{port}"
    return server


_session_worker: dict[str, Process] = {}


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker (prefork, 2 processes) on the private Redis and the test database."""
    worker = _session_worker["worker"] = start_worker()
    yield worker
    _session_worker.pop("worker", worker).stop()


@pytest.fixture
def sole_consumer():
    """For a test whose own workers must be the only ones taking from the session's queues (a
    formation, a drill): the session's shared worker, when an earlier test started it, is stopped
    for the test (else it would take the test's jobs) and started again after it."""
    worker = _session_worker.get("worker")
    if worker is None:
        yield
        return
    worker.stop()
    try:
        yield
    finally:
        restarted = start_worker()
        worker.__dict__.update(restarted.__dict__)  # the session's fixture value keeps working


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    """A real daphne serving the site (HTTP and websockets) on a free port; yields its base URL."""
    server = start_daphne()
    yield server
    server.stop()


@pytest.fixture
def live_worker(celery_worker_process, transactional_db):
    return celery_worker_process


@pytest.fixture
def live_server_url(daphne_server, transactional_db):
    return daphne_server.url


@pytest.fixture
def gate():
    """A closed gate for a gated job (tests.livetools.Gate); opened at the end whatever happens,
    so no job is left waiting on a worker."""
    from tests.livetools import Gate

    gate = Gate()
    yield gate
    gate.open()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Every test starts with empty rate-limit counters (site_config/machinery/rate_limit.py: the
    account doors, the API, comments, weather lookups): they live in the session's Redis, shared by
    the test process and every daphne it starts."""
    import redis

    client = redis.Redis.from_url(REDIS.url)
    keys = list(client.scan_iter("site:rate:*"))
    if keys:
        client.delete(*keys)
    client.close()
    yield


# --- people (house style: alice is staff, bob and charlie are members) ---

class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 with few iterations, for users made in this process: a million iterations cost
    about 0.3 s per user. The stored hash names its own iteration count, so daphne and the worker,
    which keep the production hashers, still verify these passwords at the browser's login."""

    iterations = 1_000


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the site's default language: a request in another language (the test
    client's, or translation.activate) leaves it active in this thread for whatever runs next."""
    from django.utils import translation

    translation.deactivate()
    yield


@pytest.fixture(scope="session", autouse=True)
def _quick_password_hashing():
    with override_settings(PASSWORD_HASHERS=["tests.conftest.QuickPBKDF2PasswordHasher",
                                             *settings.PASSWORD_HASHERS]):
        yield


def make_user(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD, is_staff=staff
    )


def grant(user, *permissions: str):
    """Give `user` permissions named "app_label.codename" (as has_perm takes them); returns the
    user fetched again, since Django caches a user's permissions on the instance."""
    from django.contrib.auth.models import Permission

    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def alice(db):
    return make_user("alice", staff=True)


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie")


def session_cookie(user) -> str:
    """A logged-in session for `user`, as a Cookie header value (for websocket clients)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


# --- headless Chromium through Playwright (Debian's chromium, never a downloaded browser) ---

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        artifacts = BASE_DIR / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        page.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True)
    context.close()


# --- markers: what a test needs decides which lane runs it ---

# Fixtures that start a Celery worker, daphne or beat (directly or through another fixture), and the
# ones that start Chromium. `item.fixturenames` holds every fixture a test uses, however indirectly.
LIVE_FIXTURES = {"celery_worker_process", "daphne_server", "live_worker", "live_server_url", "weather_daphne", "doors"}
BROWSER_FIXTURES = {"browser", "page"}

# The modules whose tests put SQL to work (queries and filters, conditional updates, migrations,
# cleanups, exports, reports, keyset pages, constraints): `make test` runs their tests that use the
# database and start no process (neither live nor browser) a second time on PostgreSQL, marked
# `postgres` here. Live tests that are database drills carry @pytest.mark.postgres themselves.
POSTGRES_MODULES = {
    "test_announcements", "test_api", "test_blog_comments", "test_blog_members", "test_cancel", "test_cleanup",
    "test_demo_content", "test_email_delivery", "test_exports", "test_health", "test_htmx_pages", "test_live_progress",
    "test_metrics", "test_moderation_queue", "test_monitor_charts", "test_moderation_scoring", "test_my_tasks", "test_outbox_secrets", "test_permissions",
    "test_post_images", "test_queue_purge", "test_reports", "test_run_task", "test_schedule_types",
    "test_schedules", "test_schedules_manage", "test_task_list", "test_task_monitor", "test_times",
    "test_migrations", "test_progress_write", "test_task_arguments", "test_api_tokens", "test_member_verdicts",
    "test_one_of_each", "test_live_languages", "test_lost_sweep",
}

_running: dict[str, pytest.Item] = {}


def service_missing(message: str):
    """Skip a test whose outside service (RabbitMQ, PostgreSQL...) does not answer; with CI=true fail
    it: the CI machine has every service, so a missing one is a broken run, not a test to leave out."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: every service must answer)", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["item"] = item  # before any fixture starts, so Process can check the test's markers
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        if item.get_closest_marker("quiet"):
            pytest.fail("marked quiet: it times something on an unloaded machine, so it runs in a pytest "
                        "without -n and alone (-m quiet), as `make test` does", pytrace=False)
        if _is_drill(item) and not all(_is_drill(other) for other in item.session.items):
            pytest.fail("marked serial or formation: a drill runs in a pytest of drills only (-m 'serial or "
                        "formation'), each pytest-xdist process with its own Redis and database, one drill at "
                        "a time in each, never beside the other tests (deselect it there: -m 'not serial and "
                        "not formation'), as `make test` does", pytrace=False)


def _is_drill(item) -> bool:
    return item.get_closest_marker("serial") is not None or item.get_closest_marker("formation") is not None


def pytest_runtest_teardown(item):
    _running.pop("item", None)


def _require_live_marker(what: str) -> None:
    item = _running.get("item")
    if item is not None and item.get_closest_marker("live") is None:
        raise RuntimeError(
            f"{item.nodeid} starts {what!r} but is not marked live: mark it @pytest.mark.live "
            "(or use the live_worker / daphne_server fixtures, which mark it), so `make test-fast` leaves it out."
        )


DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def _uses_database(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(set(item.fixturenames) & DATABASE_FIXTURES)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Mark tests by the fixtures they use before `-m` deselects anything; once every other plugin
    has ordered the tests, run browser tests last (the page crawl first among them): Playwright's sync API keeps an event loop running
    in the main thread for the rest of the session, after which `asyncio.run()` would fail. Under
    pytest-xdist (`-n`) each process collects alike and `--dist load` hands each one its tests in this
    order, so there too browser tests come last."""
    for item in items:
        used = set(item.fixturenames)
        if used & LIVE_FIXTURES:
            item.add_marker(pytest.mark.live)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.postgres)
        if item.path.stem in POSTGRES_MODULES and _uses_database(item) and item.get_closest_marker("live") is None \
                and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.postgres)
    result = yield
    # A test of PostgreSQL itself (HOT updates, a connection cut over TCP) is left out of a run on
    # SQLite, said as deselected rather than skipped; the PostgreSQL pass runs it.
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        only_postgresql = [item for item in items if item.get_closest_marker("postgresql_only")]
        if only_postgresql:
            config.hook.pytest_deselected(items=only_postgresql)
            items[:] = [item for item in items if not item.get_closest_marker("postgresql_only")]
    # Among the browser tests the page crawl's views first: they are the longest tests of the run, and
    # handed out last they would leave one process crawling alone while the others have finished.
    items.sort(key=lambda item: (item.get_closest_marker("browser") is not None, item.path.stem != "test_pages_browser"))
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def browser_login(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


# --- object storage: a real S3-speaking server (moto), a fresh bucket per test ---

@pytest.fixture(scope="session")
def s3_server():
    from tests.s3_helpers import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    return s3_server.bucket()


@pytest.fixture
def s3_storage(s3_bucket, settings):
    """This process's "default" storage on a fresh bucket (Django resets its storages on the change)."""
    settings.STORAGES = s3_bucket.storages(settings.STORAGES)
    settings.STORAGE_S3_BUCKET = s3_bucket.name
    return s3_bucket
