"""The main flows by keyboard alone, in headless Chromium: after logging in and opening the page, every
step is a key (Tab, Enter, Space, typing) through `page.keyboard`, never a click or a fill. Each element
Tab reaches shows where the focus is (an outline of at least 2 px), and the first Tab on a page offers
the skip link.

- start the demo job and reach its live page, which announces (a live region) when the job finishes;
- approve a held comment in the moderation queue;
- filter the task list and open a task.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from tests.blog_helpers import make_comment, make_post
from tests.conftest import browser_login, grant

pytestmark = [pytest.mark.browser, pytest.mark.live]
WORKER = 20_000  # ms: room for a busy machine's worker to pick a job up; nothing is timed against it

# The focused element: what a person would call it, and whether its focus can be seen.
FOCUSED = """() => {
    const element = document.activeElement;
    if (!element || element === document.body) return null;
    const style = getComputedStyle(element);
    const name = element.getAttribute("aria-label") || (element.labels && element.labels[0] && element.labels[0].textContent)
        || element.textContent || element.value || "";
    return {tag: element.tagName.toLowerCase(), name: name.replace(/[\\u200b\\u00ad]/g, "").replace(/\\s+/g, " ").trim(),
            outline: style.outlineStyle !== "none" ? parseFloat(style.outlineWidth) : 0};
}"""


def tab_to(page, tag: str, name: str | re.Pattern, *, limit: int = 120) -> None:
    """Press Tab until the focus is on a `tag` element called `name`; every stop on the way must show
    its focus."""
    unseen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        if focused["outline"] < 2:
            unseen.append(f"{focused['tag']} {focused['name']!r}")
        matches = name.search(focused["name"]) if isinstance(name, re.Pattern) else focused["name"] == name
        if focused["tag"] == tag and matches:
            assert unseen == [], f"focus not visible on: {unseen}"
            return
    raise AssertionError(f"Tab never reached the {tag} {name!r}")


def first_tab_offers_the_skip_link(page) -> None:
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0  # on screen once focused
    page.keyboard.press("Enter")  # the next Tab starts inside <main>, past the header's links


def test_start_the_demo_job_and_hear_it_finish_by_keyboard(page, live_worker, daphne_server, alice):
    grant(alice, "dashboard.start_demo_job")
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/")
    first_tab_offers_the_skip_link(page)
    tab_to(page, "input", "Steps")
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    tab_to(page, "input", "Delay per step (ms)")
    page.keyboard.press("Control+A")
    # Long enough (4.5 s) that the job is still running when its page opens: a task already final
    # when the page opened is not announced (static/js/site.js), and a fast worker finishes 2 x 0 ms
    # before the redirect lands.
    page.keyboard.type("1500")
    tab_to(page, "button", "Start demo job")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/dashboard/tasks/[\w-]+/$"))
    expect(page.locator(".task-status .badge")).to_have_text("Succeeded", timeout=WORKER)
    # The live region, which pushes never replace, said so.
    expect(page.locator("#task-announcer")).to_have_text("The task has finished: Succeeded.")
    expect(page.locator("#task-announcer")).to_have_attribute("aria-live", "polite")


def test_approve_a_held_comment_by_keyboard(page, live_server_url, alice, bob):
    alice = grant(alice, "dashboard.decide_comments")
    post = make_post(alice)
    held = make_comment(post, bob, body="Held until someone looks.", status="held")
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/moderation/")
    row = page.locator(f"#comment-row-{held.pk}")
    expect(row).to_be_visible()
    first_tab_offers_the_skip_link(page)
    tab_to(page, "button", "Approve")
    page.keyboard.press("Space")
    expect(row).to_have_count(0)  # decided: it leaves the held list
    held.refresh_from_db()
    assert held.status == "approved"


def _task(name: str, status: str) -> str:
    task_id = str(uuid.uuid4())
    TaskResult.objects.create(task_id=task_id, task_name=name, status=status, result=json.dumps(None))
    return task_id


def test_filter_the_task_list_and_open_a_task_by_keyboard(page, live_server_url, alice):
    failed = _task("dashboard.tasks.keyboard_failed_task", "FAILURE")
    fine = _task("dashboard.tasks.keyboard_fine_task", "SUCCESS")
    browser_login(page, live_server_url, "alice")
    page.goto(f"{live_server_url}/dashboard/tasks/")
    expect(page.locator(f"#task-row-{fine}")).to_be_visible()
    first_tab_offers_the_skip_link(page)
    tab_to(page, "input", "Search")
    page.keyboard.type("state:failure")
    page.keyboard.press("Enter")  # submits the filter form
    expect(page.locator(f"#task-row-{fine}")).to_have_count(0)
    expect(page.locator(f"#task-row-{failed}")).to_be_visible()
    expect(page.locator("tr[id^=task-row-]:not([data-state=FAILURE])")).to_have_count(0)
    tab_to(page, "a", "dashboard.tasks.keyboard_failed_task")
    expect(page.locator(f"#task-row-{failed} a")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server_url}/dashboard/tasks/{failed}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("keyboard_failed_task"))
