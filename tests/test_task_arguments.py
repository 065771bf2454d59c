"""Running a task with arguments is one power: the run form, the API, schedules (dashboard and beat
admin) need `dashboard.run_task` and respect each task's declared arguments; the beat admin's
actions need the change permission; every task has a time limit."""

from __future__ import annotations

import json
from datetime import timedelta
from html import unescape

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from dashboard.models import ControlAction, ScheduleChange, TaskLaunch
from dashboard.workers.launch import project_task_names
from site_config.celery import app
from tests.conftest import grant, make_user

CLEANUP = "dashboard.tasks.cleanup_task_results_task"
PURGE = "blog.tasks.purge_unverified_members_task"
DEMO = "dashboard.tasks.demo_job_task"
ADD, CHANGE, VIEW = ("django_celery_beat.add_periodictask", "django_celery_beat.change_periodictask",
                     "django_celery_beat.view_periodictask")
RUN = "dashboard.run_task"


def _every_second():
    return IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)[0]


def _schedule(name="nightly-clean", task=CLEANUP, kwargs=None, **extra) -> PeriodicTask:
    return PeriodicTask.objects.create(name=name, task=task, interval=_every_second(),
                                       kwargs=json.dumps(kwargs or {}), **extra)


def _run_form(client, task, args="[]", kwargs="{}"):
    return client.post("/dashboard/workers/run/", {"task": task, "args": args, "kwargs": kwargs, "queue": "",
                                                   "eta": "", "countdown": ""})


# --- finding 1: a schedule is running a task ---


def test_adding_a_schedule_without_the_run_task_power_is_refused(client, db):
    client.force_login(grant(make_user("sam", staff=True), ADD))
    response = client.post("/dashboard/schedules/new/", {
        "kind": "interval", "name": "wipe", "task": CLEANUP, "args": "[]", "kwargs": '{"max_age_days": -1}',
        "enabled": "on", "every": "1", "period": "seconds"})
    assert response.status_code == 403
    assert "Can run any registered task" in response.content.decode()
    assert not PeriodicTask.objects.filter(name="wipe").exists()


def test_a_schedules_arguments_are_checked_against_the_tasks_declaration(client, db):
    client.force_login(grant(make_user("sam", staff=True), ADD, RUN))
    response = client.post("/dashboard/schedules/new/", {
        "kind": "interval", "name": "wipe", "task": CLEANUP, "args": "[]", "kwargs": '{"max_age_days": -1}',
        "enabled": "on", "every": "1", "period": "seconds"})
    assert response.status_code == 400
    assert "max_age_days must be at least 1" in unescape(response.content.decode())
    assert not PeriodicTask.objects.filter(name="wipe").exists()


def test_the_beat_admin_add_page_needs_the_run_task_power(client, db):
    client.force_login(grant(make_user("sam", staff=True), ADD, VIEW))
    assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403
    response = client.post("/admin/django_celery_beat/periodictask/add/", {
        "name": "wipe", "task": CLEANUP, "interval": _every_second().pk, "args": "[]",
        "kwargs": '{"max_age_days": -1}', "headers": "{}", "enabled": "on"})
    assert response.status_code == 403
    assert not PeriodicTask.objects.filter(name="wipe").exists()


def test_the_beat_admin_refuses_arguments_outside_the_declaration(client, db):
    client.force_login(grant(make_user("sam", staff=True), ADD, VIEW, RUN))
    response = client.post("/admin/django_celery_beat/periodictask/add/", {
        "name": "wipe", "task": CLEANUP, "interval": _every_second().pk, "args": "[]",
        "kwargs": '{"max_age_days": -1}', "headers": "{}", "enabled": "on", "priority": "", "expire_seconds": ""})
    assert response.status_code == 200  # the form again, with the error
    assert "max_age_days must be at least 1" in unescape(response.content.decode())
    assert not PeriodicTask.objects.filter(name="wipe").exists()


def test_changing_a_schedule_in_the_admin_without_the_run_task_power_keeps_what_it_runs(client, db):
    pt = _schedule(kwargs={"max_age_days": 30})
    client.force_login(grant(make_user("chad", staff=True), CHANGE, VIEW))
    page = client.get(f"/admin/django_celery_beat/periodictask/{pt.pk}/change/")
    assert page.status_code == 200
    assert 'name="kwargs"' not in page.content.decode() and 'name="description"' in page.content.decode()
    response = client.post(f"/admin/django_celery_beat/periodictask/{pt.pk}/change/", {
        "name": pt.name, "task": CLEANUP, "regtask": CLEANUP, "interval": _every_second().pk, "args": "[]",
        "kwargs": '{"max_age_days": -1}', "headers": '{"launched_by": 1}', "enabled": "on",
        "description": "changed"})
    assert response.status_code == 302, unescape(response.content.decode())[:2000]
    pt.refresh_from_db()
    assert (json.loads(pt.kwargs), pt.description) == ({"max_age_days": 30}, "changed")
    assert json.loads(pt.headers) == {}


# --- finding 3: the run form and the API check each task's declared arguments ---


@pytest.mark.parametrize(("task", "args", "kwargs", "message"), [
    (CLEANUP, "[]", '{"max_age_days": -1}', "max_age_days must be at least 1"),
    (PURGE, "[-1]", "{}", "older_than_days must be at least 1"),
    (DEMO, "[1000000000, 0]", "{}", f"steps must be at most {settings.DEMO_JOB_MAX_STEPS}"),
    (DEMO, "[1, 0]", '{"gate_key": "x"}', "does not take these arguments"),
    ("dashboard.tasks.lost_tasks_sweep_task", "[]", '{}', None),
    ("dashboard.tasks.export_write_task", "[1]", "{}", "export_id cannot be given to"),
    (DEMO, "[true, 0]", "{}", "steps must be a whole number"),
    ("dashboard.tasks.daily_report_task", '["yesterday"]', "{}", "day must be a date"),
])
def test_the_run_form_refuses_arguments_outside_the_declaration(client, db, task, args, kwargs, message):
    client.force_login(grant(make_user("rita", staff=True), RUN))
    response = _run_form(client, task, args, kwargs)
    if message is None:  # a task that takes no argument still runs without any
        assert response.status_code == 302
        return
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert not ControlAction.objects.exists() and not TaskLaunch.objects.exists()


def test_fresh_results_survive_a_refused_clean_up_through_the_api(client, db):
    result = TaskResult.objects.create(task_id="fresh-1", task_name=DEMO, status="SUCCESS", date_done=timezone.now())
    client.force_login(grant(make_user("rita", staff=True), RUN))
    response = client.post("/api/tasks/", {"task": CLEANUP, "kwargs": {"max_age_days": -1}},
                           content_type="application/json")
    assert response.status_code == 400
    assert "max_age_days must be at least 1" in response.json()["error"]["fields"]["kwargs"][0]
    assert TaskResult.objects.filter(pk=result.pk).exists()
    listed = {row["name"]: row["accepts"] for row in client.get("/api/tasks/registered/").json()}
    assert listed[CLEANUP] == "max_age_days: a whole number from 1 to 3650, or null"
    assert listed["dashboard.tasks.lost_tasks_sweep_task"] == "takes no arguments from outside"


def test_a_clean_up_schedule_stored_with_a_negative_age_deletes_nothing_when_it_runs(db):
    """A row written before its arguments were checked (or by a queryset update) still cannot run
    the clean-up below a day."""
    TaskResult.objects.create(task_id="fresh-2", task_name=DEMO, status="SUCCESS", date_done=timezone.now())
    project_task_names()
    task = app.tasks[CLEANUP]
    with pytest.raises(ValueError, match="at least 1"):
        task.run(max_age_days=-1)
    with pytest.raises(ValueError, match="at least 1"):
        app.tasks[PURGE].run(-1)
    assert TaskResult.objects.filter(task_id="fresh-2").exists()


def test_every_project_task_has_a_time_limit_that_ends_before_redelivery():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name in project_task_names():
        task = app.tasks[name]
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard < visibility, name


# --- finding 11: the beat admin's actions declare their permission ---


def test_a_viewer_of_the_beat_admin_cannot_run_or_disable_a_schedule(client, db):
    pt = _schedule(name="watched", task=DEMO, kwargs={"steps": 1, "delay_ms": 0})
    client.force_login(grant(make_user("vic", staff=True), VIEW))
    page = client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert 'value="run_tasks"' not in page and 'value="disable_tasks"' not in page
    for action in ("run_tasks", "disable_tasks", "toggle_tasks"):
        response = client.post("/admin/django_celery_beat/periodictask/",
                               {"action": action, "_selected_action": [pt.pk], "index": 0})
        assert "successfully" not in unescape(response.content.decode())
    pt.refresh_from_db()
    assert pt.enabled
    assert not TaskLaunch.objects.exists() and not ScheduleChange.objects.exists()


def test_an_admin_run_goes_through_the_dashboards_run_now_and_is_audited(client, db):
    pt = _schedule(name="watched", task=DEMO, kwargs={"steps": 1, "delay_ms": 0})
    client.force_login(grant(make_user("chad", staff=True), VIEW, CHANGE))
    client.post("/admin/django_celery_beat/periodictask/", {"action": "run_tasks", "_selected_action": [pt.pk],
                                                            "index": 0})
    assert list(ScheduleChange.objects.values_list("action", "changed_by__username")) == [("run_now", "chad")]
    launch = TaskLaunch.objects.get()
    assert launch.launched_by.username == "chad"


def test_results_and_beat_admins_refuse_lookups_on_arguments(client, db, django_user_model):
    TaskResult.objects.create(task_id="t-1", task_name=DEMO, status="SUCCESS", task_kwargs='"{\'secret\': 1}"',
                              date_done=timezone.now() - timedelta(days=1))
    _schedule(name="guarded", task=DEMO, kwargs={"steps": 1, "delay_ms": 0})
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123456")
    client.force_login(root)
    assert client.get("/admin/django_celery_results/taskresult/?task_kwargs__contains=secret").status_code == 400
    assert client.get("/admin/django_celery_beat/periodictask/?kwargs__contains=steps").status_code == 400
    assert client.get("/admin/django_celery_beat/periodictask/?args__startswith=x").status_code == 400
    # the offered filters still work
    assert client.get("/admin/django_celery_results/taskresult/?status__exact=SUCCESS").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/?enabled__exact=1").status_code == 200
    # nor does the search look in the arguments
    page = client.get("/admin/django_celery_results/taskresult/?q=secret").content.decode()
    assert "t-1" not in page


# --- finding 4: launch metadata comes from the server, never from a schedule's headers ---


def test_a_schedule_never_stores_reserved_header_keys(db):
    pt = _schedule(name="sneaky", task=DEMO, kwargs={"steps": 1, "delay_ms": 0},
                   headers=json.dumps({"launched_by": 1, "argsrepr": "()", "kwargsrepr": "{}", "id": "x",
                                       "root_id": "y", "request_id": "someone-elses-request", "team": "ops"}))
    pt.refresh_from_db()
    assert json.loads(pt.headers) == {"team": "ops"}


def test_a_schedule_run_as_beat_runs_it_records_no_forged_launcher_nor_arguments(db, django_user_model):
    from django_celery_beat.schedulers import ModelEntry

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123456")
    victim = TaskResult.objects.create(task_id="victims-task", task_name=DEMO, status="SUCCESS",
                                       date_done=timezone.now())
    pt = _schedule(name="sneaky", task=DEMO, kwargs={"steps": 2, "delay_ms": 0})
    # Written around the model's save (a queryset update), as an older row would be stored.
    PeriodicTask.objects.filter(pk=pt.pk).update(headers=json.dumps(
        {"launched_by": root.pk, "kwargsrepr": "{'steps': 1}", "id": victim.task_id}))
    pt.refresh_from_db()
    pt.save()  # any later save cleans it
    entry = ModelEntry(pt, app=app)
    project_task_names()  # every app's tasks registered, as in beat
    result = app.tasks[DEMO].apply_async(entry.args, entry.kwargs, **entry.options)  # what beat does
    assert result.id != victim.task_id
    launch = TaskLaunch.objects.get(task_id=result.id)
    assert launch.launched_by_id is None
    row = TaskResult.objects.get(task_id=result.id)
    assert "'steps': 2" in row.task_kwargs
    assert TaskResult.objects.get(task_id=victim.task_id).status == "SUCCESS"


def test_the_upgrade_takes_a_request_id_out_of_stored_schedule_headers(transactional_db):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    pt = _schedule(name="stored-before", task=DEMO, kwargs={"steps": 1, "delay_ms": 0})
    executor = MigrationExecutor(connection)
    executor.migrate([("dashboard", "0018_api_token_expiry_and_password_stamp")])
    try:
        # As an older row was stored (a queryset update: no pre_save strips it).
        PeriodicTask.objects.filter(pk=pt.pk).update(headers=json.dumps({"request_id": "forged", "team": "ops"}))
        executor = MigrationExecutor(connection)
        executor.migrate([("dashboard", "0019_schedule_headers_without_request_id")])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    pt.refresh_from_db()
    assert json.loads(pt.headers) == {"team": "ops"}


def test_the_beat_admin_refuses_reserved_header_keys(client, db):
    client.force_login(grant(make_user("sam", staff=True), ADD, VIEW, RUN))
    response = client.post("/admin/django_celery_beat/periodictask/add/", {
        "name": "forged", "task": DEMO, "interval": _every_second().pk, "args": "[1, 0]", "kwargs": "{}",
        "headers": '{"launched_by": 1, "argsrepr": "()", "request_id": "abc"}', "enabled": "on"})
    assert response.status_code == 200
    assert "argsrepr, launched_by, request_id: launch metadata comes from the server" in unescape(response.content.decode())
    assert not PeriodicTask.objects.filter(name="forged").exists()
