"""The header and long names at a phone's width (390 px) and a desktop's (1280 px), in headless Chromium:
the navigation on one line at 1280 and folded behind a Menu button on a phone (listed plainly without
JavaScript); long task names break at dots and underscores. That no page is wider than the screen is
checked on every page by tests/test_pages_browser.py's crawl.

`LAYOUT_SCREENSHOTS=1` saves the open phone menu's screenshot to test-artifacts/layout/ to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.page_samples import Samples, seed_every_kind_of_row

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE, DESKTOP = 390, 1280
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "layout"

NAV_ITEMS = ".site-header .brand, .site-header .nav-menu > a, .site-header .nav-menu .who, .site-header .nav-menu button"


def nav_item_tops(page) -> list[int]:
    return page.evaluate(f"""() => [...document.querySelectorAll({NAV_ITEMS!r})]
        .filter((element) => element.getClientRects().length)
        .map((element) => Math.round(element.getBoundingClientRect().top + element.getBoundingClientRect().height / 2))""")


def test_navigation_is_one_line_at_1280_px(page, live_server_url):
    samples = seed_every_kind_of_row()
    page.set_viewport_size({"width": DESKTOP, "height": 900})
    browser_login(page, live_server_url, samples.superuser.username)
    page.goto(live_server_url + "/dashboard/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    centres = nav_item_tops(page)
    assert len(centres) >= 11  # brand, the public and staff links, who, log out
    assert max(centres) - min(centres) <= 4, centres
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # The rest of the dashboard is one click away under "More", the account's pages under the name.
    reports = page.locator(".site-header").get_by_role("link", name="Reports")
    expect(reports).to_be_hidden()
    page.locator(".site-header summary", has_text="More").click()
    expect(reports).to_be_visible()
    page.locator(".site-header summary", has_text="Signed in as").click()
    expect(reports).to_be_hidden()  # opening one menu closed the other
    page.locator(".site-header").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(live_server_url + "/accounts/tokens/")


def test_navigation_folds_behind_a_menu_button_on_a_phone(page, live_server_url):
    samples = seed_every_kind_of_row()
    page.set_viewport_size({"width": PHONE, "height": 844})
    browser_login(page, live_server_url, samples.superuser.username)
    page.goto(live_server_url + "/dashboard/")
    menu = page.get_by_role("button", name="Menu")
    tasks_link = page.locator(".site-header").get_by_role("link", name="Tasks", exact=True)
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(tasks_link).to_be_hidden()
    header_closed = page.locator(".site-header").bounding_box()["height"]
    assert header_closed < 80  # brand and button on one line
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(tasks_link).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    if os.environ.get("LAYOUT_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "390-menu-open.png"))
    tasks_link.click()
    expect(page).to_have_url(live_server_url + "/dashboard/tasks/")


def test_navigation_is_listed_on_a_phone_without_javascript(browser, live_server_url, transactional_db):
    seed_every_kind_of_row()
    context = browser.new_context(viewport={"width": PHONE, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server_url + "/blog/")
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator(".site-header").get_by_role("link", name="Weather")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    context.close()


def test_long_task_names_break_at_dots_and_underscores(page, live_server_url):
    samples = seed_every_kind_of_row()
    page.set_viewport_size({"width": PHONE, "height": 844})
    browser_login(page, live_server_url, samples.superuser.username)
    page.goto(f"{live_server_url}/dashboard/tasks/{samples.task_id}/")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text().replace("\n", "") == samples_name(samples)
    lines = heading.evaluate("""(h1) => {
        const range = document.createRange(); range.selectNodeContents(h1);
        return [...range.getClientRects()].length;
    }""")
    assert lines > 1  # it wrapped...
    # ...and every line ends at a dot or an underscore, never inside a word.
    ends = heading.evaluate("""(h1) => {
        const text = h1.textContent, ends = [];
        const range = document.createRange();
        let lastTop = null;
        for (let index = 0, node = h1.firstChild, offset = 0; index < text.length; index++) {
            while (node && offset >= node.textContent.length) { node = node.nextSibling; offset = 0; }
            while (node && node.nodeType !== Node.TEXT_NODE) { node = node.nextSibling; }
            if (!node) break;
            range.setStart(node, offset); range.setEnd(node, offset + 1); offset++;
            const top = Math.round(range.getBoundingClientRect().top);
            if (lastTop !== null && top > lastTop) ends.push(text[index - 1]);
            lastTop = top;
        }
        return ends;
    }""")
    assert ends and set(ends) <= {".", "_"}, ends


def samples_name(samples: Samples) -> str:
    from django_celery_results.models import TaskResult

    return TaskResult.objects.get(task_id=samples.task_id).task_name
