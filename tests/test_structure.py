"""Pins the site's public surface, so moving modules around cannot change it unnoticed.

Task names are stored data: django-celery-beat rows, queued messages and task-result rows all hold
a task's dotted name, so a task that is moved and loses its name leaves those rows pointing at
nothing. URL names and paths are public links (templates reverse the names, people bookmark the
paths), and websocket paths are what the pages' JavaScript connects to. Everything here is looked up
through Celery's and Django's public registries (the Celery app by the name the worker is started
with, the URL resolver, settings), never by a module's file path, so the tests keep passing while
modules move and fail only when the surface itself changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.app.utils import find_app
from channels.consumer import AsyncConsumer
from channels.routing import URLRouter
from django.conf import settings
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.utils.module_loading import import_string
from django_celery_beat.models import PeriodicTask

BASE_DIR = Path(__file__).resolve().parent.parent


# --- Celery task registry ---

# Every task this project registers, as of today. A task's name is what is stored, never its module.
REGISTERED_TASKS = [
    "blog.tasks.announcement_batch_task",
    "blog.tasks.email_batch_send_task",
    "blog.tasks.email_send_task",
    "blog.tasks.email_sweep_task",
    "blog.tasks.moderate_comment_task",
    "blog.tasks.pending_comments_requeue_task",
    "blog.tasks.post_image_renditions_task",
    "blog.tasks.purge_unverified_members_task",
    "dashboard.tasks.cleanup_task_results_task",
    "dashboard.tasks.daily_report_task",
    "dashboard.tasks.demo_job_task",
    "dashboard.tasks.export_write_task",
    "dashboard.tasks.exports_cleanup_task",
    "dashboard.tasks.lost_tasks_sweep_task",
    "dashboard.tasks.storage_orphans_sweep_task",
]


def worker_task_registry():
    """The tasks a worker started as `celery --app site_config worker` (Procfile) knows about."""
    app = find_app("site_config")
    app.loader.import_default_modules()
    return app.tasks


def test_every_registered_task_keeps_its_name():
    # Celery's own tasks aside, and the tests' and benchmarks' (tests/worker_tasks.py, bench/worker_tasks.py),
    # which only their own workers load.
    project_tasks = sorted(name for name in worker_task_registry() if name.split(".")[0] not in ("celery", "tests", "bench"))
    assert project_tasks == REGISTERED_TASKS


def test_every_default_schedule_names_a_registered_task():
    registered = worker_task_registry()
    assert settings.PERIODIC_TASKS, "no default schedules declared: this test would check nothing"
    unknown = {
        name: entry["task"] for name, entry in settings.PERIODIC_TASKS.items() if entry["task"] not in registered
    }
    assert unknown == {}


def test_every_stored_schedule_row_after_migrate_runs_a_registered_task(db):
    registered = worker_task_registry()
    rows = dict(PeriodicTask.objects.values_list("name", "task"))
    # The default schedules are created by migrate; without them the check below would be empty.
    assert set(settings.PERIODIC_TASKS) <= set(rows)
    unknown = {name: task for name, task in rows.items() if task not in registered}
    assert unknown == {}


# --- URLs ---

# (name, kwargs, path) for every named URL of the site, as of today. Parameterised URLs use
# example values; the path is what `reverse(name, kwargs=kwargs)` gives today. Django's admin is
# left out: its URLs are the admin's to keep, and staff reach them through its own links.
TASK = {"task_id": "abc-123"}
SITE_URLS = [
    ("api:demo_job_start", {}, "/api/demo-jobs/"),
    ("api:docs", {}, "/api/docs/"),
    ("api:me", {}, "/api/me/"),
    ("api:queue_list", {}, "/api/queues/"),
    ("api:report_detail", {"day": "2026-01-02"}, "/api/reports/2026-01-02/"),
    ("api:report_list", {}, "/api/reports/"),
    ("api:schedule_disable", {"periodic_task_id": 7}, "/api/schedules/7/disable/"),
    ("api:schedule_enable", {"periodic_task_id": 7}, "/api/schedules/7/enable/"),
    ("api:schedule_list", {}, "/api/schedules/"),
    ("api:schedule_run", {"periodic_task_id": 7}, "/api/schedules/7/run/"),
    ("api:schema", {}, "/api/schema/"),
    ("api:task_detail", TASK, "/api/tasks/abc-123/"),
    ("api:task_events", TASK, "/api/tasks/abc-123/events/"),
    ("api:task_list", {}, "/api/tasks/"),
    ("api:task_registered", {}, "/api/tasks/registered/"),
    ("api:task_cancel", TASK, "/api/tasks/abc-123/cancel/"),
    ("api:task_retry", TASK, "/api/tasks/abc-123/retry/"),
    ("api:task_revoke", TASK, "/api/tasks/abc-123/revoke/"),
    ("api:task_wait", TASK, "/api/tasks/abc-123/wait/"),
    ("api:worker_list", {}, "/api/workers/"),
    ("api_token_revoke", {"token_id": 7}, "/accounts/tokens/7/revoke/"),
    ("api_tokens", {}, "/accounts/tokens/"),
    ("announcements_unsubscribe", {"token": "tok-123"}, "/accounts/unsubscribe/tok-123/"),
    ("blog:comment_create", {"slug": "hello"}, "/blog/hello/comments/"),
    ("blog:post_detail", {"slug": "hello"}, "/blog/hello/"),
    ("blog:post_list", {}, "/blog/"),
    ("dashboard:announcement_detail", {"pk": 7}, "/dashboard/announcements/7/"),
    ("dashboard:announcement_list", {}, "/dashboard/announcements/"),
    ("dashboard:announcement_pause", {"pk": 7}, "/dashboard/announcements/7/pause/"),
    ("dashboard:announcement_resume", {"pk": 7}, "/dashboard/announcements/7/resume/"),
    ("dashboard:demo_job_start", {}, "/dashboard/tasks/demo/"),
    ("dashboard:export_download", {"pk": 7}, "/dashboard/exports/7/download/"),
    ("dashboard:export_for_task", {"task_id": "abc-123"}, "/dashboard/exports/task/abc-123/"),
    ("dashboard:export_new", {}, "/dashboard/exports/new/"),
    ("dashboard:home", {}, "/dashboard/"),
    ("dashboard:moderation_bulk", {}, "/dashboard/moderation/bulk/"),
    ("dashboard:moderation_decide", {"pk": 7}, "/dashboard/moderation/7/decide/"),
    ("dashboard:moderation_queue", {}, "/dashboard/moderation/"),
    ("dashboard:my_data", {}, "/dashboard/my-data/"),
    ("dashboard:my_tasks", {}, "/dashboard/my-tasks/"),
    ("dashboard:outbox", {}, "/dashboard/outbox/"),
    ("dashboard:post_create", {}, "/dashboard/posts/new/"),
    ("dashboard:post_edit", {"pk": 7}, "/dashboard/posts/7/"),
    ("dashboard:post_list", {}, "/dashboard/posts/"),
    ("dashboard:outbox_retry", {"pk": 7}, "/dashboard/outbox/7/retry/"),
    ("dashboard:report_detail", {"day": "2026-01-02"}, "/dashboard/reports/2026-01-02/"),
    ("dashboard:queue_purge", {"name": "celery"}, "/dashboard/workers/queues/celery/purge/"),
    ("dashboard:report_list", {}, "/dashboard/reports/"),
    ("dashboard:schedule_create", {}, "/dashboard/schedules/new/"),
    ("dashboard:schedule_delete", {"pk": 7}, "/dashboard/schedules/7/delete/"),
    ("dashboard:schedule_detail", {"pk": 7}, "/dashboard/schedules/7/"),
    ("dashboard:schedule_duplicate", {"pk": 7}, "/dashboard/schedules/7/duplicate/"),
    ("dashboard:schedule_enable", {"pk": 7}, "/dashboard/schedules/7/enabled/"),
    ("dashboard:schedule_list", {}, "/dashboard/schedules/"),
    ("dashboard:schedule_run", {"pk": 7}, "/dashboard/schedules/7/run/"),
    ("dashboard:schedules_bulk", {}, "/dashboard/schedules/bulk/"),
    ("dashboard:task_cancel", {"task_id": "abc-123"}, "/dashboard/tasks/abc-123/cancel/"),
    ("dashboard:task_counts", {}, "/dashboard/tasks/counts/"),
    ("dashboard:task_detail", {"task_id": "abc-123"}, "/dashboard/tasks/abc-123/"),
    ("dashboard:task_list", {}, "/dashboard/tasks/"),
    ("dashboard:task_retry", {"task_id": "abc-123"}, "/dashboard/tasks/abc-123/retry/"),
    ("dashboard:task_revoke", {"task_id": "abc-123"}, "/dashboard/tasks/abc-123/revoke/"),
    ("dashboard:task_terminate", {"task_id": "abc-123"}, "/dashboard/tasks/abc-123/terminate/"),
    ("dashboard:tasks_bulk", {}, "/dashboard/tasks/bulk/"),
    ("dashboard:workers", {}, "/dashboard/workers/"),
    ("dashboard:worker_control", {"kind": "pool_grow"}, "/dashboard/workers/control/pool_grow/"),
    ("dashboard:run_task", {}, "/dashboard/workers/run/"),
    ("email_state", {}, "/accounts/email-state/"),
    ("home", {}, "/"),
    ("login", {}, "/accounts/login/"),
    ("media_file", {"name": "posts/renditions/7/abc-480w.webp"}, "/media/posts/renditions/7/abc-480w.webp"),
    ("logout", {}, "/accounts/logout/"),
    ("password_change", {}, "/accounts/password_change/"),
    ("password_change_done", {}, "/accounts/password_change/done/"),
    ("password_reset", {}, "/accounts/password_reset/"),
    ("password_reset_complete", {}, "/accounts/reset/done/"),
    ("password_reset_confirm", {"uidb64": "MQ", "token": "set-password"}, "/accounts/reset/MQ/set-password/"),
    ("password_reset_done", {}, "/accounts/password_reset/done/"),
    ("set_language", {}, "/language/"),
    ("signup", {}, "/accounts/signup/"),
    ("verify_email", {"token": "tok-123"}, "/accounts/verify/tok-123/"),
    ("verify_email_resend", {}, "/accounts/verify/resend/"),
    ("weather:api", {}, "/weather/api/"),
    ("weather:page", {}, "/weather/"),
]


def named_urls(resolver=None, namespaces=()):
    """Every URL name the site can reverse, namespaced like "dashboard:task_detail", the admin's aside."""
    resolver = resolver or get_resolver()
    names = set()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            inner = namespaces + ((entry.namespace,) if entry.namespace else ())
            names |= named_urls(entry, inner)
        elif entry.name:
            names.add(":".join((*namespaces, entry.name)))
    return names


def test_the_set_of_named_urls_is_unchanged():
    assert sorted(named_urls()) == sorted(name for name, _, _ in SITE_URLS)


@pytest.mark.parametrize(("name", "kwargs", "path"), SITE_URLS, ids=[name for name, _, _ in SITE_URLS])
def test_every_url_name_reverses_to_its_path_and_back(name, kwargs, path):
    assert reverse(name, kwargs=kwargs) == path
    match = resolve(path)
    assert match.view_name == name
    assert {key: str(value) for key, value in kwargs.items()} == {key: str(match.kwargs[key]) for key in kwargs}


# --- websocket routes ---

# Every websocket path pattern, as of today (in today's routing order; compared as a set, since the
# order cannot change which route a path reaches: none of these patterns matches another's paths).
WEBSOCKET_PATTERNS = [
    "ws/tasks/",
    "ws/moderation/",
    "ws/workers/",
    "ws/dashboard/charts/",
    "ws/schedules/",
    r"^ws/tasks/(?P<task_id>[\w.-]{1,255})/$",
    "ws/my-tasks/",
    "ws/announcements/<int:pk>/",
]

# (example path, URL kwargs the consumer gets) for each websocket route the pages connect to.
WEBSOCKET_EXAMPLES = [
    ("ws/tasks/", {}),
    ("ws/moderation/", {}),
    ("ws/workers/", {}),
    ("ws/dashboard/charts/", {}),
    ("ws/schedules/", {}),
    ("ws/tasks/abc-123/", {"task_id": "abc-123"}),
    ("ws/my-tasks/", {}),
    ("ws/announcements/7/", {"pk": 7}),
]


def websocket_routes():
    """The site's websocket routes as the ASGI application routes them (site_config.asgi)."""
    return URLRouter(list(import_string("site_config.routing.websocket_urlpatterns"))).routes


def join_patterns(prefix: str, pattern: str) -> str:
    """A nested route's full pattern: "ws/" + "^tasks/(?P<task_id>...)/$" is "^ws/tasks/(?P<task_id>...)/$"."""
    if pattern.startswith("^"):
        return "^" + prefix.removeprefix("^") + pattern[1:]
    return prefix + pattern


def flatten_patterns(routes, prefix=""):
    """`str(pattern)` of every leaf route, in routing order, nested URLRouters joined onto their prefix."""
    flat = []
    for route in routes:
        if getattr(route.callback, "_path_routing", False):  # a nested URLRouter
            flat += flatten_patterns(route.callback.routes, join_patterns(prefix, str(route.pattern)))
        else:
            flat.append(join_patterns(prefix, str(route.pattern)))
    return flat


def resolve_websocket(routes, path):
    """(consumer app, kwargs) that the first matching route gives `path`, like channels' URLRouter."""
    for route in routes:
        match = route.pattern.match(path)
        if not match:
            continue
        remaining, _, kwargs = match
        if getattr(route.callback, "_path_routing", False):
            found = resolve_websocket(route.callback.routes, remaining)
            if found is not None:
                return found[0], {**kwargs, **found[1]}
        else:
            return route.callback, kwargs
    return None


def test_the_websocket_paths_are_unchanged():
    assert sorted(flatten_patterns(websocket_routes())) == sorted(WEBSOCKET_PATTERNS)


@pytest.mark.parametrize(("path", "kwargs"), WEBSOCKET_EXAMPLES, ids=[path for path, _ in WEBSOCKET_EXAMPLES])
def test_every_websocket_path_still_reaches_a_consumer(path, kwargs):
    found = resolve_websocket(websocket_routes(), path)
    assert found is not None, f"no websocket route matches {path!r}"
    app, url_kwargs = found
    assert issubclass(getattr(app, "consumer_class", type(None)), AsyncConsumer), f"{path!r} reaches {app!r}"
    assert url_kwargs == kwargs


# --- settings access ---

APP_PACKAGES = ["dashboard", "blog", "weather", "site_config"]


def test_app_code_reads_settings_as_attributes_not_through_getattr():
    offenders = []
    for package in APP_PACKAGES:
        for source in sorted((BASE_DIR / package).rglob("*.py")):
            if "migrations" in source.relative_to(BASE_DIR).parts:
                continue
            for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
                if "getattr(settings," in line:
                    offenders.append(f"{source.relative_to(BASE_DIR)}:{number}: {line.strip()}")
    assert offenders == []
