"""Server-rendered SVG charts (no JavaScript), for the dashboard home and the daily reports.

Every chart is one `<svg>` that scales to its container, with a `<title>` for screen readers and a
`<title>` on each bar so hovering shows its figures; the pages print the same figures in a table
beside it. Three shapes:

- `daily_bars_svg`: one bar per day (the reports' 30-day charts);
- `stacked_bars_svg`: one stacked bar per time bucket, one segment per series (tasks per minute/hour
  by outcome);
- `hbars_svg`: horizontal bars, per row a few series (runtime and wait percentiles per task name).

Colours are tones ("ok", "bad", "warn", "accent", "accent-light"), drawn through CSS classes
(`tone-<name>` in static/css/site.css) and `currentColor`, so the charts follow the light and dark
themes; a colour given as "#rrggbb" is still drawn as a fixed fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

AXIS = 'stroke="currentColor"'
TICK = 'class="tick" font-size="11" fill="currentColor"'
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24
# Time ticks the browser rewrites in the viewer's zone (static/js/site.js), by their strftime format.
LOCAL_TICK_STYLES = {"%H:%M": "clock", "%a %H:%M": "weekday-clock"}


def _paint(tone: str, *classes: str) -> str:
    """The attributes that colour a shape: a tone's class, or a fixed fill for a "#rrggbb" colour."""
    if tone.startswith("#"):
        names = " ".join(classes)
        return (f'class="{escape(names)}" ' if names else "") + f'fill="{escape(tone)}"'
    return f'class="{escape(" ".join((*classes, f"tone-{tone}")))}"'


def _frame(width: float, height: float, *, title: str, css_class: str) -> list[str]:
    return [
        f'<svg class="chart {escape(css_class)}" viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]


def _value_axis(width: float, plot_height: float, highest: float) -> list[str]:
    """The baseline and the two value ticks (the highest value and 0) on the left."""
    return [
        f'<line class="axis" {AXIS} x1="{LEFT}" y1="{TOP + plot_height}" x2="{width - RIGHT}" y2="{TOP + plot_height}"/>',
        f'<text {TICK} x="{LEFT - 4}" y="{TOP + 9}" text-anchor="end">{highest}</text>',
        f'<text {TICK} x="{LEFT - 4}" y="{TOP + plot_height}" text-anchor="end">0</text>',
    ]


def _close(parts: list[str]) -> SafeString:
    parts.append("</svg>")
    return mark_safe("".join(parts))


def daily_bars_svg(
    points: Sequence[tuple[date, int]], *, title: str, css_class: str = "", color: str = "accent"
) -> SafeString:
    """One bar per day; hovering a bar shows its day and value."""
    width, height = 360, 140
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    highest = max((value for _, value in points), default=0)
    scale_top = max(highest, 1)
    slot = plot_width / max(len(points), 1)
    bar_width = max(slot * 0.7, 1)
    parts = _frame(width, height, title=title, css_class=css_class) + _value_axis(width, plot_height, highest)
    for index, (day, value) in enumerate(points):
        bar_height = plot_height * value / scale_top
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = TOP + plot_height - bar_height
        parts.append(
            f'<rect {_paint(color, "bar")} x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
            f'data-day="{day.isoformat()}" data-value="{value}"><title>{day:%a %d %b}: {value}</title></rect>'
        )
    if points:
        for index in sorted({0, len(points) - 1}):
            x = LEFT + index * slot + slot / 2
            anchor = "start" if index == 0 and len(points) > 1 else "end" if index else "middle"
            parts.append(f'<text {TICK} x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">{points[index][0]:%d %b}</text>')
    else:
        parts.append(f'<text {TICK} x="{width / 2}" y="{TOP + plot_height / 2}" text-anchor="middle">no reports yet</text>')
    return _close(parts)


def stacked_bars_svg(buckets: list[tuple[datetime, dict[str, int]]], *, series: Sequence[tuple[str, str, str]],
                     title: str, label_format: str, tick_every: int, css_class: str = "") -> SafeString:
    """One stacked bar per bucket, one segment per series (key, word, tone); each bar's title
    lists its counts."""
    width, height = 720, 170
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    totals = [sum(counts.get(key, 0) for key, _, _ in series) for _, counts in buckets]
    scale_top = max(max(totals, default=0), 1)
    slot = plot_width / max(len(buckets), 1)
    bar_width = max(slot * 0.8, 1)
    parts = _frame(width, height, title=title, css_class=css_class) + _value_axis(width, plot_height, max(totals, default=0))
    for index, ((moment, counts), total) in enumerate(zip(buckets, totals)):
        x = LEFT + index * slot + (slot - bar_width) / 2
        label = timezone.localtime(moment).strftime(label_format)
        described = ", ".join(f"{counts.get(key, 0)} {word}" for key, word, _ in series)
        parts.append(f'<g class="bucket" data-bucket="{moment.isoformat()}" data-total="{total}"><title>{escape(label)}: {described}</title>')
        parts.append(f'<rect x="{x:.1f}" y="{TOP}" width="{bar_width:.1f}" height="{plot_height}" fill="transparent"/>')
        y = TOP + plot_height
        for key, _, color in series:
            value = counts.get(key, 0)
            if value:
                segment = plot_height * value / scale_top
                y -= segment
                parts.append(f'<rect {_paint(color, key.lower())} x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{segment:.1f}"/>')
        parts.append("</g>")
        if index % tick_every == 0:
            local = LOCAL_TICK_STYLES.get(label_format)
            at = (f' data-at="{moment.astimezone(UTC).isoformat().replace("+00:00", "Z")}" data-local="{local}"'
                  if local else "")
            parts.append(f'<text {TICK} x="{x:.1f}" y="{height - 6}"{at}>{escape(label)}</text>')
    return _close(parts)


def hbars_svg(rows: list[tuple[str, list[tuple[str, float | None, str]]]], *, title: str, unit: str,
              css_class: str = "") -> SafeString:
    """Horizontal bars: per row (a task name) one bar per series (label, value, tone)."""
    width, label_width, bar_height, gap = 720, 230, 11, 8
    series_count = max((len(series) for _, series in rows), default=1)
    row_height = series_count * (bar_height + 2) + gap
    height = max(row_height * len(rows) + TOP, 40)
    plot_width = width - label_width - 80
    top_value = max((value or 0 for _, series in rows for _, value, _ in series), default=0) or 1
    parts = _frame(width, height, title=title, css_class=css_class)
    if not rows:
        parts.append(f'<text {TICK} x="{width / 2}" y="24" text-anchor="middle">nothing in this period</text>')
    for index, (name, series) in enumerate(rows):
        y = TOP / 2 + index * row_height
        short = name if len(name) <= 36 else "…" + name[-35:]
        parts.append(f'<text class="label" font-size="11" fill="currentColor" x="{label_width - 6}" y="{y + bar_height}" text-anchor="end">{escape(short)}</text>')
        for offset, (label, value, color) in enumerate(series):
            bar_y = y + offset * (bar_height + 2)
            bar_width = plot_width * (value or 0) / top_value
            shown = "–" if value is None else f"{value:g} {unit}".strip()
            parts.append(
                f'<g class="hbar"><title>{escape(name)} {escape(label)}: {escape(shown)}</title>'
                f'<rect {_paint(color)} x="{label_width}" y="{bar_y:.1f}" width="{max(bar_width, 1):.1f}" height="{bar_height}"/>'
                f'<text {TICK} x="{label_width + bar_width + 4:.1f}" y="{bar_y + bar_height - 2:.1f}">{escape(label)} {escape(shown)}</text></g>'
            )
    return _close(parts)
