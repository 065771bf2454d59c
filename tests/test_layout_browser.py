"""Every page at a phone's width (390 px) and a desktop's (1280 px), in headless Chromium, and in
Traditional Chinese at the phone's width (its words wrap differently): nothing wider than the screen
(`scrollWidth <= innerWidth`), the navigation on one line at 1280 and folded behind a
Menu button on a phone (listed plainly without JavaScript).

The pages come from tests/test_structure.py's SITE_URLS, so a page someone adds there is visited here
too. A URL with parameters is opened with real objects from tests/page_samples.py (REAL_KWARGS); one
without a real object there answers 404 and fails this test, with the URL named.

`LAYOUT_SCREENSHOTS=1` saves every page's screenshot to test-artifacts/layout/ to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.page_samples import Samples, seed_every_kind_of_row
from tests.test_structure import SITE_URLS

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE, DESKTOP = 390, 1280
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "layout"


def real_kwargs(name: str, example: dict, samples: Samples) -> dict:
    """The example kwargs of SITE_URLS with real objects put in where the page needs one."""
    by_name = {
        "dashboard:schedule_detail": {"pk": samples.schedule.pk},
        "dashboard:report_detail": {"day": samples.report_day},
        "dashboard:moderation_decide": {"pk": samples.held_comment.pk},
        "dashboard:outbox_retry": {"pk": samples.email.pk},
        "dashboard:announcement_detail": {"pk": samples.announcement.pk},
        "dashboard:announcement_pause": {"pk": samples.announcement.pk},
        "dashboard:announcement_resume": {"pk": samples.announcement.pk},
        "dashboard:export_download": {"pk": samples.export.pk},
        "dashboard:schedule_duplicate": {"pk": samples.schedule.pk},
        "dashboard:schedule_delete": {"pk": samples.schedule.pk},
        "dashboard:schedule_enable": {"pk": samples.schedule.pk},
        "dashboard:schedule_run": {"pk": samples.schedule.pk},
        "dashboard:queue_purge": {"name": "celery"},
        "dashboard:post_edit": {"pk": samples.post.pk},
        "media_file": {"name": samples.rendition_name},  # an image, not a page: skipped once found
    }
    by_kwarg = {"slug": samples.post.slug, "task_id": samples.task_id}
    kwargs = {key: by_kwarg.get(key, value) for key, value in example.items()}
    return {**kwargs, **by_name.get(name, {})}


def page_overflow(page) -> dict:
    """How much wider than the window the document is, and the widest offenders (for the message)."""
    return page.evaluate("""() => {
        const width = window.innerWidth;
        const clipped = (element) => {  // inside a box that scrolls or clips it: not the page's overflow
            for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
                if (getComputedStyle(up).overflowX !== "visible") return true;
            }
            return false;
        };
        const offenders = [...document.querySelectorAll("body *")]
            .filter((element) => element.getBoundingClientRect().right > width + 1 && !clipped(element))
            .filter((element) => ![...element.children].some((child) => child.getBoundingClientRect().right > width + 1 && !clipped(child)))
            .slice(0, 5)
            .map((element) => `${element.tagName.toLowerCase()}${element.id ? "#" + element.id : ""}`
                 + `${element.className && typeof element.className === "string" ? "." + element.className.trim().split(" ").filter(Boolean).join(".") : ""}`
                 + ` right=${Math.round(element.getBoundingClientRect().right)}`);
        return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, offenders};
    }""")


def visit_every_page(browser, base_url: str, samples: Samples, width: int,
                     language: str = "en") -> tuple[list[str], list[str], list[str]]:
    """(pages checked, pages wider than the window, URLs that failed to open)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    browser_login(page, base_url, samples.superuser.username)
    # After logging in (the log-in page is found by its English words): every page after it in `language`.
    context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": base_url}])
    checked, too_wide, broken = [], [], []
    for name, example, _ in SITE_URLS:
        if name == "logout":
            continue  # a POST; visiting it would end the session for the pages after it
        path = reverse(name, kwargs=real_kwargs(name, example, samples))
        # Asked first without rendering (same session): Chromium refuses to show some empty answers.
        response = page.request.get(base_url + path, max_redirects=0)
        if response.status in (204, 405) or "text/html" not in response.headers.get("content-type", ""):
            continue  # nothing to show (an empty fragment), POST-only, or not a page (JSON)
        if response.status == 404 or response.status >= 500:
            broken.append(f"{name} {path}: {response.status} (give it a real object in real_kwargs?)")
            continue
        page.goto(base_url + path)
        if page.locator("header.site-header").count() == 0:
            continue  # an htmx fragment on its own, not a page
        page.wait_for_load_state("networkidle")
        measured = page_overflow(page)
        checked.append(name)
        if measured["scrollWidth"] > measured["innerWidth"]:
            too_wide.append(f"{name} {path}: {measured['scrollWidth']} > {measured['innerWidth']} {measured['offenders']}")
        if os.environ.get("LAYOUT_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{width}-{language}-{name.replace(':', '-')}.png"), full_page=True)
    context.close()
    return checked, too_wide, broken


@pytest.mark.parametrize(("width", "language"), [(PHONE, "en"), (DESKTOP, "en"), (PHONE, "zh-hant")])
def test_no_page_is_wider_than_the_screen(browser, live_server_url, width, language):
    samples = seed_every_kind_of_row()
    checked, too_wide, broken = visit_every_page(browser, live_server_url, samples, width, language)
    assert broken == []
    assert too_wide == [], "\n".join(too_wide)
    # The pages people use most were among those measured (a login that failed would skip nothing but show little).
    assert {"dashboard:task_list", "dashboard:task_detail", "dashboard:schedule_list", "dashboard:home",
            "blog:post_detail", "dashboard:moderation_queue"} <= set(checked)


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
