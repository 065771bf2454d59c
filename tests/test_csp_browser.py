"""The Content-Security-Policy, in headless Chromium: the behaviours that used inline script or style
(progress bars, "select all", streamed weather cards, "More comments") still work, with the console and
the browser's violation reports checked. That every page has a strict policy and runs without a
violation is checked on every page by tests/test_pages_browser.py's crawl."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from tests.blog_helpers import make_comment, make_post
from tests.conftest import browser_login, make_user, start_daphne
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


def test_what_used_inline_script_or_style_works_under_the_policy(watched, csp_site, transactional_db):
    page = watched
    alice = make_user("alice", staff=True)
    alice.is_superuser = True
    alice.save()
    bob = make_user("bob")
    post = make_post(alice)
    for number in range(3):
        make_comment(post, bob, body=f"comment {number}", status="approved")
    make_comment(post, bob, body="held one", status="held")
    make_comment(post, bob, body="held two", status="held")
    running = TaskResult.objects.create(task_id="7c0ffee0-0000-4000-8000-000000000001", task_name="dashboard.tasks.demo_job_task",
                                        status="PROGRESS", result=json.dumps({"current": 4, "total": 10, "message": "step 4"}),
                                        date_started=timezone.now())
    browser_login(page, csp_site.url, "alice")

    # Live pages still connect their websocket ('self' covers ws: on the same host).
    page.goto(csp_site.url + "/dashboard/tasks/")
    expect(page.locator("#task-table.connected")).to_be_visible()
    assert violations(page) == []

    # The progress bar is an SVG rectangle 40 units wide out of 100.
    page.goto(f"{csp_site.url}/dashboard/tasks/{running.task_id}/")
    expect(page.locator(".live.connected")).to_be_visible()  # the socket's snapshot has replaced the section
    expect(page.locator(".task-status .progress .bar rect")).to_have_attribute("width", "40")
    share = page.evaluate("""() => {
        const bar = document.querySelector(".task-status .progress .bar rect").getBoundingClientRect();
        return bar.width / document.querySelector(".task-status .progress").getBoundingClientRect().width;
    }""")
    assert abs(share - 0.4) < 0.02
    assert violations(page) == []

    # "Select all" in the moderation queue, without an onclick attribute.
    page.goto(csp_site.url + "/dashboard/moderation/")
    page.get_by_label("Select all").check()
    expect(page.locator("input[name=selected]:checked")).to_have_count(2)
    assert violations(page) == []

    # "More comments" appends the next page in place.
    page.goto(csp_site.url + post.get_absolute_url())
    expect(page.locator(".comment-body")).to_have_count(2)
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="More comments").click()
    expect(page.locator(".comment-body")).to_have_count(3)
    expect(page.get_by_role("link", name="More comments")).to_have_count(0)
    assert page.evaluate("window.__sameDocument === true")
    assert violations(page) == []

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
