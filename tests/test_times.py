"""Times on every page: `{% time_tag %}` writes `<time datetime="...Z">` with the site zone's text and the
UTC time as its title, the same for every viewer (pushed fragments are rendered once for all); the
browser (static/js/site.js) rewrites it in the viewer's own zone, zone named, on load and after every
swap, including a live push, and keeps "3 min ago" texts fresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.worker_tasks import gated_demo_job_task

MOMENT = datetime(2026, 1, 2, 8, 3, 4, 567000, tzinfo=UTC)
WORKER = 20_000  # ms: room for a busy machine's worker; nothing is timed against it
TOKYO = ZoneInfo("Asia/Tokyo")


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_time_tag_writes_utc_iso_the_site_zone_named_and_utc_on_hover():
    html = render("{% time_tag moment %}", moment=MOMENT)
    assert html == ('<time datetime="2026-01-02T08:03:04.567Z" title="2026-01-02 08:03:04 UTC" data-local="datetime">'
                    "2026-01-02 08:03:04 UTC</time>")


@override_settings(TIME_ZONE="Europe/Berlin")
def test_time_tag_text_is_in_the_site_zone_but_its_datetime_stays_utc():
    with timezone.override("Europe/Berlin"):
        html = render('{% time_tag moment "time" %} {% time_tag moment "date" %} {% time_tag moment "precise" %}',
                      moment=MOMENT)
    assert 'datetime="2026-01-02T08:03:04.567Z"' in html
    assert ">09:03:04 CET</time>" in html
    assert ">2 January 2026</time>" in html
    assert ">2026-01-02 09:03:04.567 CET</time>" in html


def test_time_tag_renders_nothing_for_no_time_and_refuses_an_unknown_style():
    assert render("{% time_tag moment %}", moment=None) == ""
    assert render('{% time_tag moment "datetime" "never" %}', moment=None) == "never"
    with pytest.raises(Exception, match="unknown style"):
        render('{% time_tag moment "fortnight" %}', moment=MOMENT)


def test_breakable_offers_a_break_after_every_dot_and_underscore_and_escapes():
    assert render("{{ name|breakable }}", name="app.tasks.clean_up<x>") == (
        "app.<wbr>tasks.<wbr>clean_<wbr>up&lt;x&gt;")


def tokyo_text(iso: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S") + " GMT+9"


def utc_title(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def tokyo_page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_tasks_times_show_in_the_viewers_zone_also_after_a_live_push(tokyo_page, live_worker, daphne_server,
                                                                       alice, gate):
    page = tokyo_page
    result = gated_demo_job_task.delay_for(alice, 2, 0, gate_key=gate.key)
    browser_login(page, daphne_server.url, "alice")

    # The task's page: queued and started in Tokyo time, named, with UTC on hover.
    page.goto(f"{daphne_server.url}/dashboard/tasks/{result.id}/")
    expect(page.locator(".live.connected")).to_be_visible()
    expect(page.locator(".task-status .badge")).to_have_text("Running", timeout=WORKER)
    queued = page.locator(".task-status dt:text-is('Queued') + dd time")
    iso = queued.get_attribute("datetime")
    expect(queued).to_have_text(tokyo_text(iso))
    expect(queued).to_have_attribute("title", utc_title(iso))
    page.evaluate("document.querySelector('.task-status').dataset.before = 'push'")  # gone once a push replaces it

    gate.open()  # the worker finishes; the push replaces the status section
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=WORKER)
    assert page.evaluate("document.querySelector('.task-status').dataset.before === undefined")
    finished = page.locator(".task-status dt:text-is('Finished') + dd time")
    iso = finished.get_attribute("datetime")
    expect(finished).to_have_text(tokyo_text(iso))
    assert page.locator(".task-status time").count() == 3
    for element in page.locator(".task-status time").all():
        assert element.inner_text().endswith(" GMT+9")


def test_the_task_list_says_how_long_ago_and_keeps_the_local_time_on_hover(tokyo_page, live_worker, daphne_server,
                                                                          alice, gate):
    page = tokyo_page
    result = gated_demo_job_task.delay_for(alice, 2, 0, gate_key=gate.key)
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    expect(page.locator("#task-table.connected")).to_be_visible()
    row = page.locator(f"#task-row-{result.id}")
    expect(row.locator(".badge")).to_have_text("Running", timeout=WORKER)
    gate.open()
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=WORKER)  # this row was pushed
    for element in row.locator("time").all():
        iso = element.get_attribute("datetime")
        expect(element).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
        expect(element).to_have_attribute("title", f"{tokyo_text(iso)} ({utc_title(iso)})")
    assert row.locator("time").count() == 2  # queued and finished


def test_relative_times_are_refreshed_while_the_page_is_open(tokyo_page, live_server_url, alice):
    from django_celery_results.models import TaskResult

    row = TaskResult.objects.create(task_id="long-ago", task_name="app.tasks.old_task", status="SUCCESS")
    TaskResult.objects.filter(pk=row.pk).update(date_created=timezone.now() - timedelta(minutes=3),
                                                date_done=timezone.now() - timedelta(minutes=3))
    page = tokyo_page
    page.clock.install()
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/tasks/")
    finished = page.locator("#task-row-long-ago time").last
    expect(finished).to_have_text("3 min ago")
    page.clock.fast_forward("02:00")  # two minutes later, nothing reloaded
    expect(finished).to_have_text("5 min ago")


def test_chart_ticks_follow_the_viewers_zone(tokyo_page, live_server_url, alice):
    from django_celery_results.models import TaskResult

    TaskResult.objects.create(task_id="done-now", task_name="app.tasks.some_task", status="SUCCESS",
                              date_done=timezone.now())
    page = tokyo_page
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/")
    ticks = page.locator("svg.per-minute text[data-at]")
    expect(ticks.first).to_be_attached()
    for tick in ticks.all():
        moment = datetime.fromisoformat(tick.get_attribute("data-at").replace("Z", "+00:00"))
        expect(tick).to_have_text(moment.astimezone(TOKYO).strftime("%H:%M"))
    hours = page.locator("svg.per-hour text[data-at]")
    moment = datetime.fromisoformat(hours.first.get_attribute("data-at").replace("Z", "+00:00"))
    expect(hours.first).to_have_text(moment.astimezone(TOKYO).strftime("%a %H:%M"))
