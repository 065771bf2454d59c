"""Server-rendered SVG charts (no JavaScript): small bar charts of one figure per day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 360, 140
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 10, 22


def daily_bars_svg(
    points: Sequence[tuple[date, int]], *, title: str, css_class: str = "", color: str = "#2457c5"
) -> SafeString:
    """One bar per day; hovering a bar shows its day and value (an SVG <title>)."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    highest = max((value for _, value in points), default=0)
    scale_top = max(highest, 1)
    slot = plot_width / max(len(points), 1)
    bar_width = max(slot * 0.7, 1)
    parts = [
        f'<svg class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" style="width: 100%; height: auto" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" stroke="#9aa5b1" x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_height}"/>',
        f'<text class="tick" font-size="10" fill="#5b6673" x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{highest}</text>',
        f'<text class="tick" font-size="10" fill="#5b6673" x="{LEFT - 4}" y="{TOP + plot_height}" text-anchor="end">0</text>',
    ]
    for index, (day, value) in enumerate(points):
        bar_height = plot_height * value / scale_top
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = TOP + plot_height - bar_height
        parts.append(
            f'<rect class="bar" fill="{escape(color)}" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
            f'data-day="{day.isoformat()}" data-value="{value}"><title>{day:%a %d %b}: {value}</title></rect>'
        )
    if points:
        for index in sorted({0, len(points) - 1}):
            day = points[index][0]
            x = LEFT + index * slot + slot / 2
            anchor = "start" if index == 0 and len(points) > 1 else "end" if index else "middle"
            parts.append(f'<text class="tick" font-size="10" fill="#5b6673" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{day:%d %b}</text>')
    else:
        parts.append(f'<text class="tick" font-size="10" fill="#5b6673" x="{WIDTH / 2}" y="{TOP + plot_height / 2}" text-anchor="middle">no reports yet</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
