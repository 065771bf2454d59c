"""Every page, once per (width, theme), in headless Chromium: one load of each page runs every check a
page must pass, so the crawl costs one visit per page and view, not one per check.

Views: a phone (390 px) and a desktop (1280 px), the light and the dark theme (prefers-color-scheme),
English and Traditional Chinese (its words wrap differently; the pages after logging in, by the
language cookie). Four views cover every pair of the three (all-pairs): each width in each theme and
in each language, each theme in each language. What a check depends on is one or two of them (layout:
width and language; contrast: theme; what a person reads: language), so the four miss nothing that
all eight would find and cost half. On each load:

- layout: nothing wider than the window (`scrollWidth <= innerWidth`);
- contrast: text at least 4.5:1 against what is behind it, chart bars 3:1 and chart labels 4.5:1, and
  the page follows the theme (measured from the computed colours);
- Content-Security-Policy: the header is strict (nonce'd scripts, no unsafe-inline or unsafe-eval), the
  browser reports no violation, and htmx injected no <style>;
- accessibility: axe-core (shipped by the `axe-playwright-python` package) with the WCAG 2.0, 2.1 and
  2.2 A and AA rules finds nothing;
- template syntax: no `{#`, `{%` or `{{` in the text a person sees (a comment Django printed as text).

The pages: the doors before logging in (home, login, signup, password reset, blog, unsubscribe), then,
as a superuser, every page of tests/test_structure.py's SITE_URLS (a page someone adds there is visited
here too) and a few of the admin's. A URL with parameters is opened with real objects from
tests/page_samples.py (REAL_KWARGS); one without a real object answers 404 and fails, with the URL named.

`LAYOUT_SCREENSHOTS=1` saves every page's screenshot to test-artifacts/pages/ to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from axe_playwright_python.base import AXE_SCRIPT
from django.conf import settings
from django.urls import reverse

from blog.services import announcements
from tests.conftest import browser_login
from tests.page_samples import Samples, seed_every_kind_of_row
from tests.test_structure import SITE_URLS

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE, DESKTOP = 390, 1280
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "pages"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]  # axe-core's tags for A and AA
TEXT = 4.5
GRAPHICS = 3.0

# Pages of the Django admin (its own templates, under our policy): CSP and template syntax only.
ADMIN_PAGES = ["/admin/", "/admin/django_celery_beat/periodictask/add/", "/admin/blog/comment/", "/admin/blog/post/add/"]


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


# --- what one load measures --------------------------------------------------------------------------

# Before any page script: record every violation the browser reports, and count the requests in flight
# (htmx's XHRs, fetches), so a check waits for the page's own loads to finish rather than for a fixed
# half-second of network silence.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} ${event.sample || ""}`);
});
window.__inFlight = 0;
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (...args) {
  window.__inFlight++;
  this.addEventListener("loadend", () => { window.__inFlight--; }, {once: true});
  return send.apply(this, args);
};
const fetched = window.fetch;
window.fetch = (...args) => { window.__inFlight++; return fetched(...args).finally(() => { window.__inFlight--; }); };
"""
SETTLED = "() => document.readyState === 'complete' && window.__inFlight === 0"

OVERFLOW = """() => {
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
}"""

# selector -> what it is; each must be found on at least one page of the crawl.
TEXT_ELEMENTS = {
    "main h1": "heading",
    "main p": "body text",
    "main td": "table text",
    "main a:not(.button):not(.chip)": "link",
    "button[type=submit]:not(.secondary):not(.ok):not(.bad):not(.warn)": "button",
    "button.secondary": "secondary button",
    "button.ok": "approve button",
    "button.bad": "reject button",
    "button.warn": "spam button",
    ".badge.ok": "success badge",
    ".badge.bad": "failure badge",
    ".badge.warn": "warning badge",
    ".badge.busy": "running badge",
    ".badge:not(.ok):not(.bad):not(.warn):not(.busy)": "plain badge",
    ".help, .crumbs, .meta, .live-note": "muted text",
    "th": "table heading",
    ".reason": "moderation reason",
    ".chip": "filter chip",
    ".site-header a": "header link",
    ".site-header .who": "header text",
    ".site-footer": "footer",
    "pre": "code block",
    ".notice": "notice",
}

CONTRAST = """(selectors) => {
    const parse = (value) => {
        const numbers = value.match(/[\\d.]+/g).map(Number);
        return {r: numbers[0], g: numbers[1], b: numbers[2], a: numbers.length > 3 ? numbers[3] : 1};
    };
    const over = (top, bottom) => ({  // top composited onto an opaque bottom
        r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
        b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
    });
    const background = (element) => {
        const layers = [];
        for (let up = element; up; up = up.parentElement) {
            const colour = parse(getComputedStyle(up).backgroundColor);
            if (colour.a > 0) layers.push(colour);
            if (colour.a === 1) break;
        }
        let result = {r: 255, g: 255, b: 255, a: 1};
        if (!layers.length || layers[layers.length - 1].a < 1) {
            result = parse(getComputedStyle(document.documentElement).backgroundColor);
        }
        for (const layer of layers.reverse()) result = over(layer, result);
        return result;
    };
    const luminance = ({r, g, b}) => {
        const channel = (value) => { value /= 255; return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const ratio = (one, two) => {
        const [light, dark] = [luminance(one), luminance(two)].sort((x, y) => y - x);
        return (light + 0.05) / (dark + 0.05);
    };
    const visible = (element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== "hidden"
        && element.textContent.trim() !== "";
    const found = {};
    for (const selector of selectors) {
        const element = [...document.querySelectorAll(selector)].find(visible);
        if (!element) continue;
        const back = background(element);
        const text = over(parse(getComputedStyle(element).color), back);
        found[selector] = {ratio: Math.round(ratio(text, back) * 100) / 100, text: getComputedStyle(element).color};
    }
    const card = background(document.querySelector("main .panel") || document.querySelector("main"));
    const charts = [...document.querySelectorAll("svg.chart .tick, svg.chart .label, svg.chart rect[class*=tone-]")]
        .filter((element) => element.getClientRects().length)
        .map((element) => ({
            kind: element.tagName === "rect" ? "bar" : "label",
            what: element.getAttribute("class"),
            ratio: Math.round(ratio(parse(getComputedStyle(element).fill), background(element.closest("svg"))) * 100) / 100,
        }));
    return {found, charts, page: luminance(parse(getComputedStyle(document.body).backgroundColor)) || luminance(card)};
}"""

AXE_RUN = """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
    .then((results) => results.violations.map((rule) => ({
        id: rule.id, help: rule.help,
        nodes: rule.nodes.slice(0, 3).map((node) => `${node.target.join(" ")}: ${node.failureSummary.replace(/\\s+/g, " ")}`),
        count: rule.nodes.length,
    })))"""

TEMPLATE_SYNTAX = ("{#", "{%", "{{")


class Crawl:
    """One browser context at one width and theme; `visit` loads a page and runs every check on it."""

    def __init__(self, browser, base_url: str, width: int, scheme: str, language: str = "en") -> None:
        self.base_url, self.width, self.scheme, self.language = base_url, width, scheme, language
        self.context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
        self.context.add_init_script(RECORD_VIOLATIONS)
        # axe-core from the package, given to every document by the browser's tools (not the page's policy).
        self.context.add_init_script(AXE_SCRIPT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text)
                     if message.type == "error" and "Content Security Policy" in message.text else None)
        self.checked: list[str] = []
        self.problems: dict[str, list[str]] = {kind: [] for kind in
                                               ("layout", "contrast", "csp", "axe", "template syntax", "theme")}
        self.measured_kinds: set[str] = set()
        self.chart_parts = 0

    def visit(self, label: str, path: str, *, ours: bool = True) -> bool:
        """Open `path` and check it; False if it was not a page (an htmx fragment on its own)."""
        page = self.page
        self.console.clear()
        response = page.goto(self.base_url + path)
        if ours and page.locator("header.site-header").count() == 0:
            return False
        page.wait_for_function(SETTLED, polling=50)
        where = f"{label} {path}"
        self.checked.append(label)

        policy = response.headers.get("content-security-policy", "")
        nonce_missing = ours and "script-src 'self' 'nonce-" not in policy  # the admin's pages carry no inline script
        if nonce_missing or "script-src 'self'" not in policy or "unsafe-inline" in policy or "unsafe-eval" in policy:
            self.problems["csp"].append(f"{where}: policy {policy!r}")
        reported = self.console + page.evaluate("window.__cspViolations || []")
        if reported:
            self.problems["csp"].append(f"{where}: {reported}")
        if page.locator("head style").count():  # htmx's indicator style, which the policy would refuse
            self.problems["csp"].append(f"{where}: a <style> in <head>")

        text = page.evaluate("document.body.innerText")
        leaked = [syntax for syntax in TEMPLATE_SYNTAX if syntax in text]
        if leaked:
            at = text.find(leaked[0])
            self.problems["template syntax"].append(f"{where}: {text[max(0, at - 40):at + 80]!r}")

        if ours:
            self._layout_and_contrast(where)
            rules = page.evaluate(AXE_RUN, WCAG_TAGS)
            for rule in rules:
                self.problems["axe"].append(f"{where}: {rule['id']} ({rule['help']}) x{rule['count']}: {rule['nodes']}")

        if os.environ.get("LAYOUT_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = f"{self.width}-{self.scheme}-{self.language}-{label.replace(':', '-').replace('/', '-')}"
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        return True

    def _layout_and_contrast(self, where: str) -> None:
        measured = self.page.evaluate(OVERFLOW)
        if measured["scrollWidth"] > measured["innerWidth"]:
            self.problems["layout"].append(f"{where}: {measured['scrollWidth']} > {measured['innerWidth']} {measured['offenders']}")
        colours = self.page.evaluate(CONTRAST, list(TEXT_ELEMENTS))
        # The page follows the theme: dark behind dark, light behind light.
        if not ((colours["page"] < 0.05) if self.scheme == "dark" else (colours["page"] > 0.8)):
            self.problems["theme"].append(f"{where}: page luminance {colours['page']}")
        for selector, result in colours["found"].items():
            self.measured_kinds.add(selector)
            if result["ratio"] < TEXT:
                self.problems["contrast"].append(
                    f"{where} {TEXT_ELEMENTS[selector]} ({selector}): {result['ratio']} ({result['text']})")
        for part in colours["charts"]:
            self.chart_parts += 1
            if part["ratio"] < (GRAPHICS if part["kind"] == "bar" else TEXT):
                self.problems["contrast"].append(f"{where} chart {part['kind']} {part['what']}: {part['ratio']}")

    def close(self) -> None:
        self.context.close()


# URL name -> True where it answers no page to look at (learnt in the first view; this process's views reuse it).
NOT_PAGES: dict[str, bool] = {}


def crawl_every_page(crawl: Crawl, samples: Samples) -> list[str]:
    """Visit the doors logged out, then every page as the superuser; returns the URLs that failed to open."""
    unsubscribe = announcements.announcement_unsubscribe_url(member_id=samples.member.pk).split("/accounts/", 1)[1]
    for path in ("/", "/accounts/login/", "/accounts/signup/", "/accounts/password_reset/", "/blog/",
                 f"/accounts/{unsubscribe}"):
        crawl.visit(f"door {path}", path)

    browser_login(crawl.page, crawl.base_url, samples.superuser.username)
    if crawl.language != "en":  # after logging in: browser_login finds the log-in form by its English words
        crawl.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": crawl.language, "url": crawl.base_url}])
    broken = []
    for name, example, _ in SITE_URLS:
        if name == "logout":
            continue  # a POST; visiting it would end the session for the pages after it
        path = reverse(name, kwargs=real_kwargs(name, example, samples))
        if NOT_PAGES.get(name) is None:
            # Asked first without rendering (same session): Chromium refuses to show some empty answers.
            response = crawl.page.request.get(crawl.base_url + path, max_redirects=0)
            # Nothing to show (an empty fragment), POST-only, or not a page (JSON): the same in every view.
            not_page = response.status in (204, 405) or "text/html" not in response.headers.get("content-type", "")
            if not not_page and (response.status == 404 or response.status >= 500):
                broken.append(f"{name} {path}: {response.status} (give it a real object in real_kwargs?)")
                continue
            NOT_PAGES[name] = not_page
        if not NOT_PAGES[name] and not crawl.visit(name, path):
            NOT_PAGES[name] = True  # an htmx fragment on its own
    # Pages the list above opens with samples of one kind; these show the rows of another.
    for path in ("/dashboard/moderation/?status=held", "/dashboard/exports/new/?kind=nothing"):
        crawl.visit(path, path)
    for path in ADMIN_PAGES:
        crawl.visit(f"admin {path}", path, ours=False)
    return broken


VIEWS = [(PHONE, "light", "en"), (DESKTOP, "dark", "en"), (PHONE, "dark", "zh-hant"), (DESKTOP, "light", "zh-hant")]


def test_the_views_cover_every_pair_of_width_theme_and_language():
    factors = [(PHONE, DESKTOP), ("light", "dark"), ("en", "zh-hant")]
    for one, two in ((0, 1), (0, 2), (1, 2)):
        pairs = {(view[one], view[two]) for view in VIEWS}
        assert pairs == {(a, b) for a in factors[one] for b in factors[two]}, (one, two)


@pytest.mark.parametrize(("width", "scheme", "language"), VIEWS,
                         ids=["phone-light", "desktop-dark", "phone-dark-zh-hant", "desktop-light-zh-hant"])
def test_every_page_fits_reads_and_passes_the_audit(browser, live_server_url, width, scheme, language):
    samples = seed_every_kind_of_row()
    crawl = Crawl(browser, live_server_url, width, scheme, language)
    try:
        broken = crawl_every_page(crawl, samples)
    finally:
        crawl.close()
    assert broken == []
    found = {kind: problems for kind, problems in crawl.problems.items() if problems}
    assert found == {}, "\n".join(f"[{kind}] {problem}" for kind, problems in found.items() for problem in problems)
    # The pages people use most were among those checked (a login that failed would skip nothing but show little).
    assert {"door /", "door /accounts/login/", "dashboard:task_list", "dashboard:task_detail", "dashboard:schedule_list",
            "dashboard:home", "blog:post_detail", "dashboard:moderation_queue", "admin /admin/"} <= set(crawl.checked)
    # Every kind of element was measured somewhere (on a phone the header's name is folded behind Menu).
    assert set(TEXT_ELEMENTS) - crawl.measured_kinds == ({".site-header .who"} if width == PHONE else set())
    assert crawl.chart_parts >= 6  # the home page's charts had labels and bars to measure
