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


# For each button or action link: the characters that end a line inside it (empty when it is one line).
LINE_ENDS_IN_CONTROLS = """(selector) => [...document.querySelectorAll(selector)].filter((element) => element.getClientRects().length)
    .map((element) => {
        const text = element.textContent, ends = [], range = document.createRange();
        let lastTop = null;
        const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
        for (let index = 0, textNode = walker.nextNode(); textNode; textNode = walker.nextNode()) {
            for (let offset = 0; offset < textNode.textContent.length; offset++, index++) {
                range.setStart(textNode, offset); range.setEnd(textNode, offset + 1);
                const rects = range.getClientRects();
                if (!rects.length) continue;
                const top = Math.round(rects[0].top);
                if (lastTop !== null && top > lastTop + 2) ends.push(text[index - 1]);
                lastTop = top;
            }
        }
        return {text: text.trim(), ends};
    })"""


def test_task_list_on_a_phone_folds_its_filters_and_keeps_words_whole(page, live_server_url):
    samples = seed_every_kind_of_row()
    page.set_viewport_size({"width": PHONE, "height": 844})
    browser_login(page, live_server_url, samples.superuser.username)
    page.goto(f"{live_server_url}/dashboard/tasks/")
    # The search first, its help one line with a link to the rest; the other fields behind one disclosure.
    search = page.get_by_label("Search")
    expect(search).to_be_visible()
    help_line = page.locator("#search-help")
    line_height = float(help_line.evaluate("(element) => parseFloat(getComputedStyle(element).lineHeight)"))
    assert help_line.bounding_box()["height"] <= line_height * 1.2
    state = page.get_by_label("State", exact=True)
    expect(state).to_be_hidden()
    expect(page.locator("tr[id^=task-row-]").first).to_be_visible()
    # Read in one step in the page: the live table may swap a row between a locator's find and its measure.
    first_row_top = page.evaluate("() => document.querySelector('tr[id^=task-row-]').getBoundingClientRect().top + window.scrollY")
    assert first_row_top < 844 * 1.5  # the rows start within about a screen and a half
    page.locator(".filters-more > summary").click()
    expect(state).to_be_visible()
    help_line.get_by_role("link", name="How search works").click()
    expect(page.get_by_role("heading", name="How search works")).to_be_in_viewport()
    # Buttons and action links break between words, never inside one, here and in the other tables.
    broken = []
    for path in ("/dashboard/tasks/", "/dashboard/schedules/", "/dashboard/moderation/", f"/dashboard/tasks/{samples.task_id}/"):
        page.goto(live_server_url + path)
        for control in page.evaluate(LINE_ENDS_IN_CONTROLS, "main button, main a.button, .row-actions a, .actions a"):
            if any(end not in (" ", "…") for end in control["ends"]):
                broken.append(f"{path} {control}")
    assert broken == []
    if os.environ.get("LAYOUT_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.goto(f"{live_server_url}/dashboard/tasks/")
        page.screenshot(path=str(SCREENSHOTS / "390-task-list.png"), full_page=True)


def test_task_list_shows_every_filter_without_the_disclosure_on_a_desktop(page, live_server_url):
    samples = seed_every_kind_of_row()
    browser_login(page, live_server_url, samples.superuser.username)
    page.goto(f"{live_server_url}/dashboard/tasks/")
    expect(page.get_by_label("State", exact=True)).to_be_visible()
    expect(page.locator(".filters-more > summary")).to_be_hidden()
