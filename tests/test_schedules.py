"""Schedules: defaults from settings, schedules in words, next runs across DST, the staff pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import states
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks
from django_celery_results.models import TaskResult

from dashboard.models import ScheduleChange, TaskLaunch
from dashboard.schedules.services import (
    _interval_parts,
    describe_schedule,
    next_run_at,
    periodic_tasks_sync,
    schedule_next_run,
    schedule_set_enabled,
    schedule_update,
)
from site_config.machinery.stored_texts import shown

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def alice(db):
    """Staff with django-celery-beat's "change periodic task" permission (needed to change schedules)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import make_user

    user = make_user("alice", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_periodictask"))
    return user


def _periodic(name="every-ten", *, task="dashboard.tasks.demo_job_task", **schedule):
    if "crontab" in schedule:
        m, h, dom, mon, dow = schedule.pop("crontab").split()
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=m, hour=h, day_of_month=dom, month_of_year=mon, day_of_week=dow,
            timezone=schedule.pop("tz", "UTC"),
        )
        schedule["crontab"] = crontab
    if "every_seconds" in schedule:
        every, period = _interval_parts(schedule.pop("every_seconds"))
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        schedule["interval"] = interval
    return PeriodicTask.objects.create(name=name, task=task, kwargs=json.dumps({"steps": 1, "delay_ms": 0}), **schedule)


# --- defaults from settings ---


def test_default_schedules_exist_after_migrate(db):
    report = PeriodicTask.objects.get(name="daily-report")
    assert report.task == "dashboard.tasks.daily_report_task"
    assert (report.crontab.minute, report.crontab.hour) == ("5", "0")
    assert PeriodicTask.objects.get(name="clean-up-task-results").task == "dashboard.tasks.cleanup_task_results_task"


def test_sync_creates_missing_schedules_and_never_overwrites_a_staff_edit(db, alice):
    declared = {
        "nightly-thing": {"task": "dashboard.tasks.demo_job_task", "crontab": "30 2 * * *", "kwargs": {"steps": 2}},
        "often-thing": {"task": "dashboard.tasks.demo_job_task", "every_seconds": 600},
    }
    assert periodic_tasks_sync(declared=declared) == ["nightly-thing", "often-thing"]
    often = PeriodicTask.objects.get(name="often-thing")
    assert describe_schedule(often) == "every 10 minutes"
    assert json.loads(PeriodicTask.objects.get(name="nightly-thing").kwargs) == {"steps": 2}

    schedule_update(periodic_task_id=often.pk, user=alice, kind="crontab", fields={
        "minute": "0", "hour": "6", "day_of_month": "*", "month_of_year": "*", "day_of_week": "1", "timezone": "UTC"})
    schedule_set_enabled(periodic_task_id=often.pk, enabled=False, user=alice)
    assert periodic_tasks_sync(declared=declared) == []  # the next deploy
    often.refresh_from_db()
    assert describe_schedule(often) == "every Monday at 06:00 UTC"
    assert often.enabled is False


@override_settings(TIME_ZONE="Europe/Berlin")
def test_schedules_in_words_use_the_site_time_zone(db):
    periodic_tasks_sync(declared={
        "berlin-report": {"task": "x_task", "crontab": "5 0 * * *"},
        "ten-minutes": {"task": "x_task", "every_seconds": 600},
        "each-second": {"task": "x_task", "every_seconds": 1},
        "quarter-hourly": {"task": "x_task", "crontab": "*/15 * * * *"},
        "odd": {"task": "x_task", "crontab": "0 9 1 * *"},
    })
    words = {pt.name: describe_schedule(pt) for pt in PeriodicTask.objects.all()}
    assert words["berlin-report"] == "every day at 00:05 Europe/Berlin"
    assert words["ten-minutes"] == "every 10 minutes"
    assert words["each-second"] == "every second"
    assert words["quarter-hourly"] == "every 15 minutes"
    assert words["odd"] == "at 09:00, on day 1 of the month (Europe/Berlin)"


# --- next run across daylight-saving changes (02:30 Europe/Berlin) ---


def _berlin_0230():
    return CrontabSchedule(minute="30", hour="2", timezone="Europe/Berlin").schedule


@pytest.mark.parametrize(
    ("last_run", "expected_utc"),
    [
        # The evening before spring-forward (Sun 29 March 2026): 02:30 does not exist that night;
        # it runs once, at 03:30 CEST (01:30 UTC), an hour after the clocks jumped.
        (datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        # After that run: back to 02:30 local, now CEST (00:30 UTC).
        (datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
        # The day before fall-back (Sun 25 October 2026): the first 02:30 (CEST, 00:30 UTC).
        (datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # After the first 02:30 it does not run again at the second 02:30 (CET) but the next day.
        (datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)
def test_next_run_is_right_across_daylight_saving_changes(last_run, expected_utc):
    now = last_run + timedelta(seconds=1)
    assert schedule_next_run(_berlin_0230(), last_run_at=last_run, now=now) == expected_utc


def test_next_run_shown_in_site_time_zone_on_the_page_across_dst(db, client, alice):
    pt = _periodic("dst-job", crontab="30 2 * * *", tz="Europe/Berlin")
    PeriodicTask.objects.filter(pk=pt.pk).update(last_run_at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    pt.refresh_from_db()
    assert next_run_at(pt, now=datetime(2026, 10, 25, 0, 31, tzinfo=UTC)) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    with override_settings(TIME_ZONE="Europe/Berlin"):
        timezone.activate(BERLIN)
        try:
            assert next_run_at(pt, now=datetime(2026, 10, 25, 0, 31, tzinfo=UTC)).astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CET"
        finally:
            timezone.deactivate()


def test_interval_next_run_rolls_on_when_beat_has_not_written_its_last_run_yet(db):
    pt = _periodic("minutely", every_seconds=60)
    PeriodicTask.objects.filter(pk=pt.pk).update(last_run_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    pt.refresh_from_db()
    assert next_run_at(pt, now=datetime(2026, 1, 1, 12, 5, 30, tzinfo=UTC)) == datetime(2026, 1, 1, 12, 6, tzinfo=UTC)
    schedule_set_enabled(periodic_task_id=pt.pk, enabled=False, user=None)
    pt.refresh_from_db()
    assert next_run_at(pt) is None


# --- the page ---


def test_schedule_list_shows_words_next_run_last_run_state_and_count(db, client, alice):
    pt = _periodic("every-ten", every_seconds=600)
    for state in (states.SUCCESS, states.FAILURE):
        TaskResult.objects.create(task_id=f"run-{state}", task_name=pt.task, status=state, periodic_task_name=pt.name)
    client.force_login(alice)
    response = client.get(reverse("dashboard:schedule_list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "every-ten" in html and "every 10 minutes" in html and "dashboard.tasks.demo_job_task" in html
    row = html[html.index(f'id="schedule-{pt.pk}"'):]
    row = row[: row.index("</tr>")]
    assert 'class="next-run"><time' in row
    assert reverse("dashboard:task_detail", args=[f"run-{states.FAILURE}"]) in row  # the newest run
    assert 'data-state="FAILURE"' in row
    assert 'class="run-count">2</td>' in row


STAFF_URLS = [
    ("get", "dashboard:schedule_list", False),
    ("get", "dashboard:schedule_detail", True),
    ("post", "dashboard:schedule_detail", True),
    ("post", "dashboard:schedule_enable", True),
    ("post", "dashboard:schedule_run", True),
    ("get", "dashboard:report_list", False),
]


@pytest.mark.parametrize(("method", "name", "needs_pk"), STAFF_URLS)
@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_schedule_and_report_pages_and_posts_are_staff_only(db, client, bob, method, name, needs_pk, who):
    pt = _periodic("guarded", every_seconds=600)
    if who == "bob":
        client.force_login(bob)
    url = reverse(name, args=[pt.pk] if needs_pk else [])
    data = {"enabled": "0", "kind": "interval", "every": "1", "period": "seconds"}
    response = getattr(client, method)(url, data) if method == "post" else client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]
    pt.refresh_from_db()
    assert pt.enabled and describe_schedule(pt) == "every 10 minutes"
    assert not ScheduleChange.objects.exists()
    assert not TaskResult.objects.filter(periodic_task_name="guarded").exists()


def test_disable_with_htmx_returns_the_row_records_the_change_and_tells_beat(db, client, alice):
    pt = _periodic("toggle-me", every_seconds=600)
    client.force_login(alice)
    before = PeriodicTasks.last_change()
    response = client.post(reverse("dashboard:schedule_enable", args=[pt.pk]), {"enabled": "0"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="schedule-{pt.pk}" data-enabled="false"')
    assert ">Enable</button>" in html
    pt.refresh_from_db()
    assert pt.enabled is False
    assert PeriodicTasks.last_change() > before  # what the running beat polls
    change = ScheduleChange.objects.get()
    assert (change.changed_by, change.action, change.periodic_task_name) == (alice, "disabled", "toggle-me")
    # Disabling again changes nothing and records nothing.
    client.post(reverse("dashboard:schedule_enable", args=[pt.pk]), {"enabled": "0"})
    assert ScheduleChange.objects.count() == 1


def test_enable_as_plain_post_redirects_to_the_list(db, client, alice):
    pt = _periodic("off", every_seconds=600, enabled=False)
    client.force_login(alice)
    response = client.post(reverse("dashboard:schedule_enable", args=[pt.pk]), {"enabled": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard:schedule_list")
    assert "off enabled." in response.content.decode()
    pt.refresh_from_db()
    assert pt.enabled


def test_invalid_crontab_shows_the_error_on_its_field(db, client, alice):
    pt = _periodic("editable", every_seconds=600)
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    plain = client.post(url, {"kind": "crontab", "crontab": "5 25 * * *"})
    assert plain.status_code == 400
    assert "&#x27;25&#x27; is not a valid hour." in plain.content.decode()
    htmx = client.post(url, {"kind": "crontab", "crontab": "5 0 * *"}, HTTP_HX_REQUEST="true")
    html = htmx.content.decode()
    assert htmx.status_code == 200 and html.lstrip().startswith('<form method="post"')
    assert "A crontab has 5 fields" in html and "has-error" in html
    interval = client.post(url, {"kind": "interval", "every": "0", "period": "minutes"})
    assert interval.status_code == 400 and "greater than or equal to 1" in interval.content.decode()
    pt.refresh_from_db()
    assert describe_schedule(pt) == "every 10 minutes" and not ScheduleChange.objects.exists()


def test_editing_the_schedule_saves_it_and_records_who_and_what(db, client, alice):
    pt = _periodic("editable", every_seconds=600)
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    response = client.post(url, {"kind": "crontab", "crontab": "15  4 * * *"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == url
    pt.refresh_from_db()
    assert describe_schedule(pt) == "every day at 04:15 UTC" and pt.interval is None
    response = client.post(url, {"kind": "interval", "every": "2", "period": "hours"}, follow=True)
    assert "Schedule changed." in response.content.decode()
    pt.refresh_from_db()
    assert describe_schedule(pt) == "every 2 hours"
    summaries = [shown(summary) for summary in ScheduleChange.objects.order_by("id").values_list("summary", flat=True)]
    assert summaries == ["every 10 minutes → every day at 04:15 UTC", "every day at 04:15 UTC → every 2 hours"]
    assert "alice" in response.content.decode() and "every day at 04:15 UTC → every 2 hours" in response.content.decode()


def test_run_now_queues_the_task_with_the_schedule_name_and_opens_its_page(transactional_db, client, alice):
    pt = _periodic("parked-run", every_seconds=600, queue="parked")  # no worker reads "parked"
    client.force_login(alice)
    response = client.post(reverse("dashboard:schedule_run", args=[pt.pk]))
    row = TaskResult.objects.get(periodic_task_name="parked-run")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:task_detail", args=[row.task_id])
    assert row.status == states.PENDING
    assert TaskLaunch.objects.get(task_id=row.task_id).launched_by == alice
    assert ScheduleChange.objects.get().action == "run_now"


def test_run_now_of_an_unknown_task_says_so(db, client, alice):
    pt = _periodic("ghost", task="nowhere.tasks.ghost_task", every_seconds=600)
    client.force_login(alice)
    response = client.post(reverse("dashboard:schedule_run", args=[pt.pk]), follow=True)
    assert "No task named &#x27;nowhere.tasks.ghost_task&#x27; is registered." in response.content.decode()



def test_staff_without_the_change_permission_can_look_but_not_change_or_run(db, client):
    from tests.conftest import make_user

    client.force_login(make_user("sam", staff=True))
    schedule = PeriodicTask.objects.get(name="daily-report")
    assert client.get("/dashboard/schedules/").status_code == 200
    detail = client.get(f"/dashboard/schedules/{schedule.pk}/").content.decode()
    assert "Run now" not in detail and "needs the “Can change periodic task” permission" in detail
    for url, data in ((f"/dashboard/schedules/{schedule.pk}/enabled/", {"enabled": "0"}),
                      (f"/dashboard/schedules/{schedule.pk}/run/", {}),
                      (f"/dashboard/schedules/{schedule.pk}/", {"kind": "crontab", "crontab": "0 1 * * *"})):
        assert client.post(url, data).status_code == 403
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.crontab.minute == "5"


def test_schedule_rows_take_the_same_few_queries_however_many_schedules(db, django_assert_max_num_queries):
    from dashboard.schedules.services import schedule_rows

    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    for i in range(8):
        PeriodicTask.objects.create(name=f"extra-{i}", task="dashboard.tasks.daily_report_task", interval=every_minute)
        TaskResult.objects.create(task_id=f"run-{i}", periodic_task_name=f"extra-{i}", status=states.SUCCESS)
    with django_assert_max_num_queries(3):
        rows = schedule_rows()
    assert {row.periodic_task.name: row.last_run.task_id for row in rows if row.last_run} == {
        f"extra-{i}": f"run-{i}" for i in range(8)}
