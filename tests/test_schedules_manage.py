"""Schedules managed from the dashboard: create, duplicate, delete (never a schedule declared in
settings), enable or disable many at once; each action needs django-celery-beat's own permission
and is recorded."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from dashboard.models import ScheduleChange
from dashboard.schedules.services import copy_name, schedule_duplicate
from site_config.machinery.stored_texts import shown
from tests.conftest import grant, make_user

MANAGE = ("django_celery_beat.add_periodictask", "django_celery_beat.change_periodictask",
          "django_celery_beat.delete_periodictask", "dashboard.run_task")


@pytest.fixture
def alice(db):
    return grant(make_user("alice", staff=True), *MANAGE)


@pytest.fixture
def dora(db):
    """Staff who may look at schedules but hold none of the permissions."""
    return make_user("dora", staff=True)


def _every(name: str, seconds: int = 30, *, enabled: bool = True) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name=name, task="dashboard.tasks.demo_job_task", interval=interval,
                                       enabled=enabled, kwargs=json.dumps({"steps": 1, "delay_ms": 0}))


def _changes(name: str) -> list[tuple[str, str]]:
    return list(ScheduleChange.objects.filter(periodic_task_name=name).order_by("id")
                .values_list("action", "changed_by__username"))


# --- create ---


def test_create_makes_a_schedule_of_the_chosen_type_and_records_it(client, alice):
    client.force_login(alice)
    changed_before = PeriodicTasks.last_change()
    response = client.post(reverse("dashboard:schedule_create"), {
        "kind": "interval", "name": "export-often", "task": "dashboard.tasks.demo_job_task",
        "args": "[3, 0]", "kwargs": "{}", "queue": "", "description": "", "enabled": "on",
        "every": "90", "period": "seconds",
    })
    pt = PeriodicTask.objects.get(name="export-often")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:schedule_detail", args=[pt.pk])
    assert (pt.interval.every, pt.interval.period, pt.enabled, json.loads(pt.args)) == (90, "seconds", True, [3, 0])
    assert PeriodicTasks.last_change() != changed_before  # the running beat reloads
    assert _changes("export-often") == [("created", "alice")]


def test_create_refuses_a_taken_name_bad_json_and_tasks_that_are_not_the_projects(client, alice):
    _every("taken")
    client.force_login(alice)
    form = {"kind": "interval", "name": "taken", "task": "celery.backend_cleanup", "args": "{not json",
            "kwargs": "[]", "every": "5", "period": "minutes"}
    response = client.post(reverse("dashboard:schedule_create"), form)
    text = response.content.decode()
    assert response.status_code == 400
    assert "already exists" in text and "Not valid JSON" in text and "Must be a JSON object" in text
    assert "Select a valid choice" in text  # Celery's own tasks are not offered
    assert PeriodicTask.objects.filter(name="taken").count() == 1


def test_create_of_a_clocked_schedule_makes_a_one_off_task(client, alice):
    client.force_login(alice)
    client.post(reverse("dashboard:schedule_create"), {
        "kind": "clocked", "name": "once", "task": "dashboard.tasks.demo_job_task", "args": "[1, 0]", "kwargs": "{}",
        "enabled": "on", "clocked_time": "2031-01-02T03:04:05",
    })
    pt = PeriodicTask.objects.get(name="once")
    assert pt.clocked_id and pt.one_off


# --- duplicate ---


def test_duplicate_gets_a_unique_name_starts_disabled_and_is_recorded(client, alice):
    original = _every("tick")
    client.force_login(alice)
    first = client.post(reverse("dashboard:schedule_duplicate", args=[original.pk]))
    second = client.post(reverse("dashboard:schedule_duplicate", args=[original.pk]))
    copy1, copy2 = PeriodicTask.objects.get(name="tick (copy)"), PeriodicTask.objects.get(name="tick (copy 2)")
    assert first["Location"] == reverse("dashboard:schedule_detail", args=[copy1.pk])
    assert second["Location"] == reverse("dashboard:schedule_detail", args=[copy2.pk])
    for copy in (copy1, copy2):
        assert (copy.task, copy.kwargs, copy.interval_id, copy.enabled) == (
            original.task, original.kwargs, original.interval_id, False)
    assert _changes("tick (copy)") == [("duplicated", "alice")]
    assert shown(ScheduleChange.objects.get(periodic_task_name="tick (copy)").summary) == "copy of tick, disabled"


def test_copy_name_takes_the_first_free_number_and_fits_the_column():
    assert copy_name("a", set()) == "a (copy)"
    assert copy_name("a", {"a (copy)", "a (copy 2)"}) == "a (copy 3)"
    long = copy_name("x" * 200, set())
    assert len(long) == 200 and long.endswith(" (copy)")


def test_duplicating_a_copy_twice_in_a_row_never_collides(alice):
    original = _every("job")
    names = {schedule_duplicate(periodic_task_id=original.pk, user=alice).name for _ in range(4)}
    assert names == {"job (copy)", "job (copy 2)", "job (copy 3)", "job (copy 4)"}


# --- delete ---


def test_delete_asks_first_then_deletes_and_keeps_the_record(client, alice):
    pt = _every("old-job")
    client.force_login(alice)
    confirm = client.get(reverse("dashboard:schedule_delete", args=[pt.pk])).content.decode()
    assert "Delete old-job" in confirm and 'action="/dashboard/schedules/%d/delete/"' % pt.pk in confirm
    response = client.post(reverse("dashboard:schedule_delete", args=[pt.pk]))
    assert response["Location"] == reverse("dashboard:schedule_list")
    assert not PeriodicTask.objects.filter(name="old-job").exists()
    assert _changes("old-job") == [("deleted", "alice")]
    listing = client.get(reverse("dashboard:schedule_list")).content.decode()
    assert "deleted old-job" in listing  # the record outlives the schedule


def test_a_schedule_declared_in_settings_cannot_be_deleted_only_disabled(client, alice):
    declared = PeriodicTask.objects.get(name="daily-report")
    client.force_login(alice)
    detail = client.get(reverse("dashboard:schedule_detail", args=[declared.pk])).content.decode()
    assert "can be disabled but not deleted" in detail and "Delete…" not in detail
    confirm = client.get(reverse("dashboard:schedule_delete", args=[declared.pk])).content.decode()
    assert "would create it again" in confirm and "Disable it" in confirm
    response = client.post(reverse("dashboard:schedule_delete", args=[declared.pk]), follow=True)
    assert "declared in settings.PERIODIC_TASKS" in response.content.decode()
    assert PeriodicTask.objects.filter(name="daily-report").exists()
    assert _changes("daily-report") == []


# --- bulk enable / disable ---


def test_bulk_disable_then_enable_changes_each_ticked_schedule_once_and_records_each(client, alice):
    one, two, untouched = _every("one"), _every("two", enabled=False), _every("untouched")
    client.force_login(alice)
    response = client.post(reverse("dashboard:schedules_bulk"), {"action": "disable", "ids": [one.pk, two.pk]}, follow=True)
    assert "1 schedule disabled; 1 already disabled." in response.content.decode()
    assert [PeriodicTask.objects.get(pk=pk).enabled for pk in (one.pk, two.pk, untouched.pk)] == [False, False, True]
    client.post(reverse("dashboard:schedules_bulk"), {"action": "enable", "ids": [one.pk, two.pk]})
    assert [PeriodicTask.objects.get(pk=pk).enabled for pk in (one.pk, two.pk)] == [True, True]
    assert _changes("one") == [("disabled", "alice"), ("enabled", "alice")]
    assert _changes("two") == [("enabled", "alice")]
    assert _changes("untouched") == []


def test_the_list_offers_bulk_selection_and_marks_schedules_from_settings(client, alice):
    pt = _every("mine")
    client.force_login(alice)
    html = client.get(reverse("dashboard:schedule_list")).content.decode()
    assert f'name="ids" value="{pt.pk}" form="schedule-bulk"' in html
    assert 'id="schedule-bulk"' in html and "Disable selected" in html
    declared_row = html[html.index('data-name="daily-report"'):]
    assert "from settings" in declared_row[: declared_row.index("</tr>")]
    mine_row = html[html.index('data-name="mine"'):]
    assert "from settings" not in mine_row[: mine_row.index("</tr>")]


# --- who may ---


@pytest.mark.parametrize(("url_name", "data"), [
    ("dashboard:schedule_create", {"kind": "interval", "name": "x", "task": "dashboard.tasks.demo_job_task",
                                   "every": "5", "period": "minutes"}),
    ("dashboard:schedule_duplicate", {}),
    ("dashboard:schedule_delete", {}),
    ("dashboard:schedules_bulk", {"action": "disable"}),
])
def test_staff_without_the_permissions_can_look_but_every_change_is_refused(client, dora, url_name, data):
    pt = _every("guarded")
    client.force_login(dora)
    args = [pt.pk] if url_name in ("dashboard:schedule_duplicate", "dashboard:schedule_delete") else []
    if url_name == "dashboard:schedules_bulk":
        data = {**data, "ids": [pt.pk]}
    response = client.post(reverse(url_name, args=args), data)
    assert response.status_code == 403
    assert list(PeriodicTask.objects.filter(name__startswith="guarded").values_list("name", "enabled")) == [("guarded", True)]
    assert not PeriodicTask.objects.filter(name="x").exists()
    assert ScheduleChange.objects.count() == 0
    page = client.get(reverse("dashboard:schedule_list")).content.decode()
    assert "New schedule" not in page and "Disable selected" not in page
