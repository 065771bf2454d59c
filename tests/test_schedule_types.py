"""Schedule editing for every type django-celery-beat has (crontab, interval, solar, clocked):
the page opens the form of the schedule's own type, saving it unchanged keeps the same row, one
changed field changes only that, shared rows are never edited in place, type changes are explicit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from dashboard.models import ScheduleChange
from dashboard.schedules.services import describe_schedule, next_run_at, schedule_rows
from site_config.machinery.stored_texts import shown


@pytest.fixture
def alice(db):
    from tests.conftest import make_user

    user = make_user("alice", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_periodictask"))
    return user


class _FormValues(HTMLParser):
    """What a browser would submit for the form with id `form_id`: inputs, selects, textareas."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values, self._select = form_id, False, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name"):
            if attrs.get("type") in ("radio", "checkbox") and "checked" not in attrs:
                return
            self.values[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None


def form_values(html: str, form_id: str = "schedule-form") -> dict:
    parser = _FormValues(form_id)
    parser.feed(html)
    return parser.values


def _task(name: str, **schedule) -> PeriodicTask:
    return PeriodicTask.objects.create(
        name=name, task="dashboard.tasks.demo_job_task", args=json.dumps([3]), kwargs=json.dumps({"delay_ms": 0}), **schedule
    )


def _schedules():
    crontab = CrontabSchedule.objects.create(minute="30", hour="2", day_of_week="1-5", timezone="America/New_York")
    interval = IntervalSchedule.objects.create(every=120, period=IntervalSchedule.SECONDS)  # not "2 minutes"
    solar = SolarSchedule.objects.create(event="sunset", latitude=Decimal("52.52"), longitude=Decimal("13.405"))
    clocked = ClockedSchedule.objects.create(clocked_time=datetime(2031, 6, 1, 8, 15, 30, 250000, tzinfo=UTC))
    return {"crontab": crontab, "interval": interval, "solar": solar, "clocked": clocked}


def _stored(pt: PeriodicTask) -> tuple:
    pt.refresh_from_db()
    return (pt.crontab_id, pt.interval_id, pt.solar_id, pt.clocked_id, pt.one_off, pt.enabled, pt.args, pt.kwargs)


@pytest.mark.parametrize("kind", ["crontab", "interval", "solar", "clocked"])
@pytest.mark.parametrize("htmx", [False, True])
@override_settings(TIME_ZONE="Europe/Berlin")
def test_saving_the_form_unchanged_keeps_the_same_type_and_row(db, client, alice, kind, htmx):
    rows = _schedules()
    pt = _task(f"kept-{kind}", **{kind: rows[kind]}, one_off=kind == "clocked")
    before = _stored(pt)
    counts = {name: type(row).objects.count() for name, row in rows.items()}
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    page = client.get(url)
    values = form_values(page.content.decode())
    assert values["kind"] == kind  # the page opens the form of the schedule's own type
    response = client.post(url, values, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    assert response.status_code in (200, 302), response.content.decode()[:2000]
    assert _stored(pt) == before
    assert not ScheduleChange.objects.exists()
    assert {name: type(row).objects.count() for name, row in rows.items()} == counts  # no row added


@override_settings(TIME_ZONE="Europe/Berlin")
def test_changing_one_field_changes_only_that_and_leaves_a_shared_row_alone(db, client, alice):
    rows = _schedules()
    mine = _task("mine", crontab=rows["crontab"])
    theirs = _task("theirs", crontab=rows["crontab"])  # the same crontab row drives two tasks
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[mine.pk])
    values = form_values(client.get(url).content.decode())
    values["crontab"] = "30 3 * * 1-5"
    client.post(url, values)
    mine.refresh_from_db()
    new = mine.crontab
    assert new.pk != rows["crontab"].pk
    assert (new.minute, new.hour, new.day_of_month, new.month_of_year, new.day_of_week, str(new.timezone)) == (
        "30", "3", "*", "*", "1-5", "America/New_York")
    shared = CrontabSchedule.objects.get(pk=rows["crontab"].pk)
    assert (shared.hour, str(shared.timezone)) == ("2", "America/New_York")
    theirs.refresh_from_db()
    assert theirs.crontab_id == rows["crontab"].pk
    change = ScheduleChange.objects.get()
    assert change.changed_by == alice and change.periodic_task_name == "mine"
    # An audit note quotes an unusual crontab as its expression, in whichever language it is read.
    note = shown(change.summary)
    assert "30 2 * * 1-5" in note.split("→")[0] and "America/New_York" in note


@pytest.mark.parametrize(
    ("kind", "field", "value", "check"),
    [
        ("interval", "every", "90", lambda pt: (pt.interval.every, pt.interval.period) == (90, "seconds")),
        ("solar", "latitude", "48.1375", lambda pt: (pt.solar.event, pt.solar.latitude, pt.solar.longitude)
         == ("sunset", Decimal("48.1375"), Decimal("13.405"))),
        ("solar", "event", "sunrise", lambda pt: (pt.solar.event, pt.solar.latitude) == ("sunrise", Decimal("52.52"))),
        ("clocked", "clocked_time", "2031-06-01T12:00:00", lambda pt: pt.clocked.clocked_time
         == datetime(2031, 6, 1, 10, 0, tzinfo=UTC) and pt.one_off),
    ],
)
@override_settings(TIME_ZONE="Europe/Berlin")
def test_changing_one_field_of_each_type(db, client, alice, kind, field, value, check):
    rows = _schedules()
    pt = _task(f"edit-{kind}", **{kind: rows[kind]}, one_off=kind == "clocked")
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    values = form_values(client.get(url).content.decode())
    values[field] = value
    response = client.post(url, values, follow=True)
    assert "Schedule changed." in response.content.decode()
    pt.refresh_from_db()
    assert getattr(pt, f"{kind}_id") != rows[kind].pk and check(pt)
    assert [getattr(pt, f"{other}_id") is None for other in rows if other != kind] == [True, True, True]
    assert ScheduleChange.objects.get().action == "schedule"


@override_settings(TIME_ZONE="Europe/Berlin")
def test_type_changes_only_when_another_type_is_chosen_on_the_page(db, client, alice):
    rows = _schedules()
    pt = _task("one-shot", clocked=rows["clocked"], one_off=True)
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    page = client.get(url).content.decode()
    assert "Saving changes this schedule" not in page and 'href="?kind=crontab"' in page
    switch = client.get(url, {"kind": "crontab"}).content.decode()
    assert "Saving changes this schedule from clocked to crontab" in switch and "stops being one-off" in switch
    values = form_values(switch)
    assert values["kind"] == "crontab"
    values["crontab"] = "0 7 * * *"
    client.post(url, values)
    pt.refresh_from_db()
    assert pt.clocked_id is None and pt.crontab and pt.one_off is False
    assert describe_schedule(pt) == "every day at 07:00 Europe/Berlin"
    assert shown(ScheduleChange.objects.get().summary).endswith("; no longer one-off")
    # And to clocked: always one-off, as django-celery-beat requires.
    values = form_values(client.get(url, {"kind": "clocked"}).content.decode())
    client.post(url, values)
    pt.refresh_from_db()
    assert pt.clocked_id and pt.crontab_id is None and pt.one_off is True


def test_unknown_type_and_bad_values_are_clear_errors(db, client, alice):
    rows = _schedules()
    pt = _task("solar-one", solar=rows["solar"])
    client.force_login(alice)
    url = reverse("dashboard:schedule_detail", args=[pt.pk])
    assert client.get(url, {"kind": "lunar"}).status_code == 400
    response = client.post(url, {"kind": "solar", "event": "sunset", "latitude": "95", "longitude": "13.4"})
    assert response.status_code == 400 and "less than or equal to 90" in response.content.decode()
    response = client.post(url, {"kind": "clocked", "clocked_time": "tomorrow-ish"})
    assert response.status_code == 400 and "Enter a valid date/time." in response.content.decode()
    assert _stored(pt)[2] == rows["solar"].pk and not ScheduleChange.objects.exists()


@override_settings(TIME_ZONE="Europe/Berlin")
def test_detail_page_shows_args_kwargs_queue_expiry_start_and_one_off_as_stored(db, client, alice):
    rows = _schedules()
    pt = _task("facts", interval=rows["interval"], queue="reports", expire_seconds=300,
               start_time=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    client.force_login(alice)
    html = client.get(reverse("dashboard:schedule_detail", args=[pt.pk])).content.decode()
    assert '<dd class="schedule-args"><code>[3]</code></dd>' in html
    assert '<dd class="schedule-kwargs"><code>{&quot;delay_ms&quot;: 0}</code></dd>' in html
    assert '<dd class="schedule-queue"><code>reports</code></dd>' in html
    assert "300 seconds after it is sent" in html
    assert "2030-01-02 04:04:05 CET" in html
    assert '<dd class="schedule-one-off">no</dd>' in html


def test_solar_and_clocked_schedules_have_words_and_a_next_run_in_the_list(db):
    rows = _schedules()
    sunset_task = _task("at-sunset", solar=rows["solar"])
    _task("later", clocked=rows["clocked"], one_off=True)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    PeriodicTask.objects.filter(pk=sunset_task.pk).update(last_run_at=datetime(2026, 5, 31, 19, 20, tzinfo=UTC))
    by_name = {row.periodic_task.name: row for row in schedule_rows(now=now)}
    assert by_name["at-sunset"].schedule_words == "every day at sunset at 52.52, 13.405"
    sunset = by_name["at-sunset"].next_run
    # Berlin's sunset on 1 June is about 21:20 CEST (19:20 UTC).
    assert sunset is not None and datetime(2026, 6, 1, 19, 0, tzinfo=UTC) < sunset < datetime(2026, 6, 1, 19, 40, tzinfo=UTC)
    assert by_name["later"].next_run == rows["clocked"].clocked_time
    assert by_name["later"].schedule_words.startswith("once at 2031-06-01 ")


def test_a_clocked_schedule_that_has_run_has_no_next_run(db):
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now() - timedelta(hours=1))
    pt = _task("done", clocked=clocked, one_off=True)
    PeriodicTask.objects.filter(pk=pt.pk).update(total_run_count=1)
    pt.refresh_from_db()
    assert next_run_at(pt) is None
