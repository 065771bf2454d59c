"""The Content-Security-Policy, in headless Chromium: every page a staff member can open, with the
console and the browser's violation reports checked, and the behaviours that used inline script or
style (progress bars, "select all", streamed weather cards, "More comments") still working."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from blog.models import Announcement
from blog.services import announcements
from tests.blog_helpers import make_comment, make_post
from tests.conftest import browser_login, make_user, start_daphne
from tests.image_helpers import jpeg_bytes, post_with_ready_image
from tests.weather_upstream import FakeOpenMeteo, weather_redis_flush

pytestmark = [pytest.mark.browser, pytest.mark.live]

# Before any page script: record every violation the browser reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} ${event.sample || ""}`);
});
"""


@pytest.fixture(scope="module")
def csp_site(django_db_setup):
    upstream = FakeOpenMeteo()
    server = start_daphne("daphne-csp", env={**upstream.env, "BLOG_COMMENTS_PER_PAGE": "2"})
    yield server
    server.stop()
    upstream.stop()


@pytest.fixture
def watched(page):
    """The page, with CSP violations collected from its console and from the violation events."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    page.add_init_script(RECORD_VIOLATIONS)
    page.csp_console = console
    return page


def violations(page) -> list[str]:
    return page.csp_console + page.evaluate("window.__cspViolations || []")


def test_every_page_runs_under_a_strict_policy_without_a_violation(watched, csp_site, transactional_db):
    page = watched
    alice = make_user("alice", staff=True)
    alice.is_superuser = True
    alice.save()
    bob = make_user("bob")
    post = make_post(alice)
    pictured = post_with_ready_image(alice, jpeg_bytes(1200, 800))  # its <picture>, served by /media/
    for number in range(3):
        make_comment(post, bob, body=f"comment {number}", status="approved")
    make_comment(post, bob, body="held one", status="held")
    make_comment(post, bob, body="held two", status="held")
    running = TaskResult.objects.create(task_id="7c0ffee0-0000-4000-8000-000000000001", task_name="dashboard.tasks.demo_job_task",
                                        status="PROGRESS", result=json.dumps({"current": 4, "total": 10, "message": "step 4"}),
                                        date_started=timezone.now())
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    schedule = PeriodicTask.objects.create(name="csp-check", task="dashboard.tasks.daily_report_task", interval=every_minute)
    announcement = Announcement.objects.create(subject="News", body="Hello.", created_by=alice, status="paused",
                                               recipients_total=3)
    unsubscribe = announcements.announcement_unsubscribe_url(member_id=bob.pk).split("/accounts/", 1)[1]

    # Before logging in: the doors.
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/blog/",
                 f"/accounts/{unsubscribe}"):
        response = page.goto(csp_site.url + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert violations(page) == [], path

    browser_login(page, csp_site.url, "alice")
    pages = [
        "/dashboard/", "/dashboard/tasks/", f"/dashboard/tasks/{running.task_id}/", "/dashboard/workers/",
        "/dashboard/schedules/", f"/dashboard/schedules/{schedule.pk}/", "/dashboard/reports/",
        "/dashboard/schedules/new/", f"/dashboard/schedules/{schedule.pk}/delete/", "/dashboard/workers/queues/celery/purge/",
        "/dashboard/moderation/", "/dashboard/outbox/", post.get_absolute_url(), "/weather/",
        "/dashboard/my-tasks/", "/dashboard/my-data/",
        "/dashboard/announcements/", f"/dashboard/announcements/{announcement.pk}/",
        "/admin/", "/admin/django_celery_beat/periodictask/add/", "/admin/blog/comment/",
        "/dashboard/posts/", "/dashboard/posts/new/", pictured.get_absolute_url(), "/admin/blog/post/add/",
    ]
    for path in pages:
        page.goto(csp_site.url + path)
        page.wait_for_load_state("networkidle")
        assert violations(page) == [], path
        # htmx did not inject its indicator <style> (the policy would refuse it).
        assert page.locator("head style").count() == 0, path

    # Live pages still connect their websocket ('self' covers ws: on the same host).
    page.goto(csp_site.url + "/dashboard/tasks/")
    expect(page.locator("#task-table.connected")).to_be_visible()

    # The progress bar is an SVG rectangle 40 units wide out of 100.
    page.goto(f"{csp_site.url}/dashboard/tasks/{running.task_id}/")
    expect(page.locator(".live.connected")).to_be_visible()  # the socket's snapshot has replaced the section
    expect(page.locator(".task-status .progress .bar rect")).to_have_attribute("width", "40")
    share = page.evaluate("""() => {
        const bar = document.querySelector(".task-status .progress .bar rect").getBoundingClientRect();
        return bar.width / document.querySelector(".task-status .progress").getBoundingClientRect().width;
    }""")
    assert abs(share - 0.4) < 0.02

    # "Select all" in the moderation queue, without an onclick attribute.
    page.goto(csp_site.url + "/dashboard/moderation/")
    page.get_by_label("Select all").check()
    expect(page.locator("input[name=selected]:checked")).to_have_count(2)

    # "More comments" appends the next page in place.
    page.goto(csp_site.url + post.get_absolute_url())
    expect(page.locator(".comment-body")).to_have_count(2)
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="More comments").click()
    expect(page.locator(".comment-body")).to_have_count(3)
    expect(page.get_by_role("link", name="More comments")).to_have_count(0)
    assert page.evaluate("window.__sameDocument === true")

    # Streamed weather cards hide their placeholders with a nonce'd <style>.
    weather_redis_flush()
    page.goto(csp_site.url + "/weather/?cities=Oslo,Lima")
    expect(page.get_by_role("status").filter(has_text="Done: 2 cities answered.")).to_be_visible()
    expect(page.locator(".weather-pending:visible")).to_have_count(0)
    assert violations(page) == []


def test_more_comments_is_a_plain_link_without_javascript(browser, csp_site, transactional_db):
    alice, bob = make_user("alice", staff=True), make_user("bob")
    post = make_post(alice)
    for number in range(3):
        make_comment(post, bob, body=f"comment {number}", status="approved")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(csp_site.url + post.get_absolute_url())
    page.get_by_role("link", name="More comments").click()
    expect(page).to_have_url(re.compile(r"\?after=\d+#comments$"))
    expect(page.locator(".comment-body")).to_have_text(["comment 2"])
    context.close()
