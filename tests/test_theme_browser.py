"""The light and dark themes follow the system setting (prefers-color-scheme), and text keeps a WCAG
contrast ratio of at least 4.5:1 against what is behind it in both: body text, links, buttons, badges,
muted text, the header; chart bars at least 3:1 (graphics) and chart labels 4.5:1, so the charts do
not vanish in the dark. Measured in headless Chromium from the computed colours.

`LAYOUT_SCREENSHOTS=1` saves the pages to test-artifacts/theme/ to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import browser_login
from tests.page_samples import seed_every_kind_of_row

pytestmark = [pytest.mark.browser, pytest.mark.live]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "theme"
TEXT = 4.5
GRAPHICS = 3.0

# selector -> what it is; each must be found on at least one of the pages below.
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

MEASURE = """(selectors) => {
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


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_charts_keep_enough_contrast_in_both_themes(browser, live_server_url, scheme):
    samples = seed_every_kind_of_row()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    browser_login(page, live_server_url, samples.superuser.username)
    paths = ["/dashboard/", "/dashboard/tasks/", f"/dashboard/tasks/{samples.task_id}/", "/dashboard/moderation/?status=held",
             "/dashboard/schedules/", "/dashboard/outbox/", "/dashboard/reports/", f"/blog/{samples.post.slug}/",
             "/dashboard/workers/", "/dashboard/exports/new/?kind=nothing"]
    seen, too_faint, chart_parts = set(), [], 0
    for path in paths:
        page.goto(live_server_url + path)
        page.wait_for_load_state("networkidle")
        measured = page.evaluate(MEASURE, list(TEXT_ELEMENTS))
        # The page follows the scheme: dark behind dark, light behind light.
        assert (measured["page"] < 0.05) if scheme == "dark" else (measured["page"] > 0.8), path
        for selector, result in measured["found"].items():
            seen.add(selector)
            if result["ratio"] < TEXT:
                too_faint.append(f"{path} {TEXT_ELEMENTS[selector]} ({selector}): {result['ratio']} ({result['text']})")
        for part in measured["charts"]:
            chart_parts += 1
            needed = GRAPHICS if part["kind"] == "bar" else TEXT
            if part["ratio"] < needed:
                too_faint.append(f"{path} chart {part['kind']} {part['what']}: {part['ratio']}")
        if os.environ.get("LAYOUT_SCREENSHOTS"):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = path.strip("/").replace("/", "-").replace("?", "-") or "home"
            page.screenshot(path=str(SCREENSHOTS / f"{scheme}-{name}.png"), full_page=True)
    context.close()
    assert too_faint == [], "\n".join(too_faint)
    assert set(TEXT_ELEMENTS) - seen == set()  # every kind of element was measured somewhere
    assert chart_parts >= 6  # the home page's charts had labels and bars to measure
