"""Task charts for the dashboard home: throughput, runtime and queue wait, top failing tasks.

Figures come from django-celery-results' TaskResult and are computed in the database with bounded
time windows, so they stay fast on a table of 1,000,000 rows or more:

- tasks per minute (last hour) and per hour (last 7 days) by outcome: one `GROUP BY` on
  `Trunc(date_done)` and status over an index range on `date_done` (indexed). The 7-day figure's
  closed hours are cached per hour (they no longer change); only the current hour is counted
  afresh, from the per-minute rows already fetched, so a refresh scans at most one hour of rows.
- runtime (date_done - date_started) and queue wait (date_started - date_created) p50/p95 for the
  most frequent task names of the last 24 hours: one `GROUP BY task_name` over that day, then per
  name the newest RUNTIME_SAMPLE finished rows (LIMIT), percentiles in Python. At most
  TOP_NAMES x RUNTIME_SAMPLE rows are read, whatever the table size.
- top failing task names of the last 24 hours: `GROUP BY task_name` on FAILURE rows of that day.

"Retried" counts rows whose latest state is RETRY: django-celery-results keeps one row per task,
which later becomes SUCCESS or FAILURE, so a retry is visible while the task waits for its next try.

The charts are server-rendered SVG (no JavaScript), each with <title> elements per bar and a text
summary or table next to it. The whole figure set is cached for CHARTS_INTERVAL seconds in the
shared cache, and the live home page gets it from one poller per daphne process (site_config.poller).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from celery import states
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncHour, TruncMinute
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django_celery_results.models import TaskResult

from dashboard.reports import percentile

CHARTS_INTERVAL = getattr(settings, "HOME_CHARTS_INTERVAL", 10.0)
FIGURES_KEY = "dashboard:monitor:figures"
TOP_NAMES = 8
RUNTIME_SAMPLE = 2000
TOP_FAILING = 5

OUTCOMES = [
    (states.SUCCESS, "succeeded", "#1f8a4c"),
    (states.FAILURE, "failed", "#c0392b"),
    (states.RETRY, "retried", "#b7791f"),
]
OUTCOME_STATES = [state for state, _, _ in OUTCOMES]


# --- figures ---

def monitor_figures(*, now: datetime | None = None, max_age: float = CHARTS_INTERVAL) -> dict:
    """All chart figures; cached for `max_age` seconds when computed for the present."""
    if now is None:
        figures = cache.get(FIGURES_KEY)
        if figures and (timezone.now() - figures["computed_at"]).total_seconds() < max_age:
            return figures
    figures = monitor_figures_compute(now=now or timezone.now(), cache_closed_hours=now is None)
    if now is None:
        cache.set(FIGURES_KEY, figures, timeout=max(int(max_age) * 6, 60))
    return figures


def monitor_figures_compute(*, now: datetime, cache_closed_hours: bool = False) -> dict:
    now = timezone.localtime(now)
    minute_end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    minute_start = minute_end - timedelta(minutes=60)
    per_minute = _outcome_counts(TruncMinute, minute_start, minute_end)
    minutes = [minute_start + timedelta(minutes=i) for i in range(60)]

    hour_now = now.replace(minute=0, second=0, microsecond=0)
    hour_start = hour_now - timedelta(hours=24 * 7 - 1)
    per_hour = _closed_hours(hour_start, hour_now, use_cache=cache_closed_hours)
    current = defaultdict(int)
    for minute, counts in per_minute.items():
        if minute >= hour_now:
            for state, n in counts.items():
                current[state] += n
    per_hour[hour_now] = dict(current)
    hours = [hour_start + timedelta(hours=i) for i in range(24 * 7)]

    day_ago = now - timedelta(hours=24)
    return {
        "computed_at": timezone.now(),
        "per_minute": [(minute, per_minute.get(minute, {})) for minute in minutes],
        "per_hour": [(hour, per_hour.get(hour, {})) for hour in hours],
        "timings": _timings(day_ago),
        "top_failing": [
            {"task_name": row["task_name"] or "(unnamed)", "count": row["n"]}
            for row in TaskResult.objects.filter(status=states.FAILURE, date_done__gte=day_ago)
            .order_by().values("task_name").annotate(n=Count("id")).order_by("-n", "task_name")[:TOP_FAILING]
        ],
    }


def _outcome_counts(trunc, start: datetime, end: datetime) -> dict[datetime, dict[str, int]]:
    rows = (
        TaskResult.objects.filter(date_done__gte=start, date_done__lt=end, status__in=OUTCOME_STATES)
        .order_by()
        .annotate(bucket=trunc("date_done"))
        .values("bucket", "status")
        .annotate(n=Count("id"))
    )
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[timezone.localtime(row["bucket"])][row["status"]] = row["n"]
    return counts


def _closed_hours(start: datetime, end: datetime, *, use_cache: bool) -> dict[datetime, dict[str, int]]:
    """Counts per hour in [start, end): closed hours, cached until the hour is over."""
    key = f"dashboard:monitor:hours:{start.isoformat()}:{end.isoformat()}"
    counts = cache.get(key) if use_cache else None
    if counts is None:
        counts = dict(_outcome_counts(TruncHour, start, end))
        if use_cache:
            cache.set(key, counts, timeout=3600)
    return dict(counts)


def _timings(since: datetime) -> dict:
    """Runtime and queue wait p50/p95 per frequent task name (and over all of them) since `since`."""
    names = list(
        TaskResult.objects.filter(status=states.SUCCESS, date_done__gte=since)
        .order_by().values("task_name").annotate(n=Count("id")).order_by("-n", "task_name")[:TOP_NAMES]
    )
    rows, all_waits = [], []
    for entry in names:
        sample = (
            TaskResult.objects.filter(status=states.SUCCESS, date_done__gte=since, task_name=entry["task_name"])
            .order_by("-date_done").values_list("date_created", "date_started", "date_done")[:RUNTIME_SAMPLE]
        )
        runtimes, waits = [], []
        for created, started, done in sample:
            if started and done and done >= started:
                runtimes.append((done - started).total_seconds())
            if created and started and started >= created:
                waits.append((started - created).total_seconds())
        all_waits.extend(waits)
        rows.append({
            "task_name": entry["task_name"] or "(unnamed)",
            "count": entry["n"],
            "sampled": len(runtimes),
            "p50": percentile(runtimes, 50),
            "p95": percentile(runtimes, 95),
            "wait_p50": percentile(waits, 50),
            "wait_p95": percentile(waits, 95),
        })
    return {
        "by_name": rows,
        "wait_p50": percentile(all_waits, 50),
        "wait_p95": percentile(all_waits, 95),
        "wait_count": len(all_waits),
    }


# --- rendering ---

WIDTH, HEIGHT = 720, 170
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24
TICK = 'class="tick" font-size="11" fill="#5b6673"'


def stacked_bars_svg(buckets: list[tuple[datetime, dict[str, int]]], *, title: str, label_format: str,
                     tick_every: int, css_class: str = "") -> SafeString:
    """One stacked bar per bucket (succeeded, failed, retried); each bar's <title> lists its counts."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(counts.get(state, 0) for state in OUTCOME_STATES) for _, counts in buckets]
    scale_top = max(max(totals, default=0), 1)
    slot = plot_width / max(len(buckets), 1)
    bar_width = max(slot * 0.8, 1)
    parts = [
        f'<svg class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line stroke="#9aa5b1" x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_height}"/>',
        f'<text {TICK} x="{LEFT - 4}" y="{TOP + 9}" text-anchor="end">{max(totals, default=0)}</text>',
        f'<text {TICK} x="{LEFT - 4}" y="{TOP + plot_height}" text-anchor="end">0</text>',
    ]
    for index, ((moment, counts), total) in enumerate(zip(buckets, totals)):
        x = LEFT + index * slot + (slot - bar_width) / 2
        label = timezone.localtime(moment).strftime(label_format)
        described = ", ".join(f"{counts.get(state, 0)} {word}" for state, word, _ in OUTCOMES)
        parts.append(f'<g class="bucket" data-bucket="{moment.isoformat()}" data-total="{total}"><title>{escape(label)}: {described}</title>')
        parts.append(f'<rect x="{x:.1f}" y="{TOP}" width="{bar_width:.1f}" height="{plot_height}" fill="transparent"/>')
        y = TOP + plot_height
        for state, _, color in OUTCOMES:
            value = counts.get(state, 0)
            if value:
                height = plot_height * value / scale_top
                y -= height
                parts.append(f'<rect class="{state.lower()}" fill="{color}" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}"/>')
        parts.append("</g>")
        if index % tick_every == 0:
            parts.append(f'<text {TICK} x="{x:.1f}" y="{HEIGHT - 6}">{escape(label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def hbars_svg(rows: list[tuple[str, list[tuple[str, float | None, str]]]], *, title: str, unit: str,
              css_class: str = "") -> SafeString:
    """Horizontal bars: per row (a task name) one bar per series (label, value, colour)."""
    label_width, bar_height, gap = 230, 11, 8
    series_count = max((len(series) for _, series in rows), default=1)
    row_height = series_count * (bar_height + 2) + gap
    height = max(row_height * len(rows) + TOP, 40)
    plot_width = WIDTH - label_width - 80
    top_value = max((value or 0 for _, series in rows for _, value, _ in series), default=0) or 1
    parts = [
        f'<svg class="chart {escape(css_class)}" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        parts.append(f'<text {TICK} x="{WIDTH / 2}" y="24" text-anchor="middle">nothing in this period</text>')
    for index, (name, series) in enumerate(rows):
        y = TOP / 2 + index * row_height
        short = name if len(name) <= 36 else "…" + name[-35:]
        parts.append(f'<text font-size="11" fill="#1d232b" x="{label_width - 6}" y="{y + bar_height}" text-anchor="end">{escape(short)}</text>')
        for offset, (label, value, color) in enumerate(series):
            bar_y = y + offset * (bar_height + 2)
            width = plot_width * (value or 0) / top_value
            shown = "–" if value is None else f"{value:g} {unit}".strip()
            parts.append(
                f'<g class="hbar"><title>{escape(name)} {escape(label)}: {escape(shown)}</title>'
                f'<rect fill="{color}" x="{label_width}" y="{bar_y:.1f}" width="{max(width, 1):.1f}" height="{bar_height}"/>'
                f'<text {TICK} x="{label_width + width + 4:.1f}" y="{bar_y + bar_height - 2:.1f}">{escape(label)} {escape(shown)}</text></g>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def charts_context(figures: dict | None = None) -> dict:
    figures = figures or monitor_figures()
    last_hour = {state: sum(c.get(state, 0) for _, c in figures["per_minute"]) for state in OUTCOME_STATES}
    last_week = {state: sum(c.get(state, 0) for _, c in figures["per_hour"]) for state in OUTCOME_STATES}
    timings = figures["timings"]
    return {
        "figures": figures,
        "outcomes": [{"state": s, "word": w, "color": c, "hour": last_hour[s], "week": last_week[s]} for s, w, c in OUTCOMES],
        "busy_minutes": [(m, c) for m, c in figures["per_minute"] if c],
        "per_minute_svg": stacked_bars_svg(
            figures["per_minute"], title="Tasks finished per minute, last hour", label_format="%H:%M",
            tick_every=10, css_class="per-minute"),
        "per_hour_svg": stacked_bars_svg(
            figures["per_hour"], title="Tasks finished per hour, last 7 days", label_format="%a %H:%M",
            tick_every=24, css_class="per-hour"),
        "runtime_svg": hbars_svg(
            [(row["task_name"], [("p50", row["p50"], "#7aa2e3"), ("p95", row["p95"], "#2457c5")]) for row in timings["by_name"]],
            title="Runtime p50 and p95 per task name, last 24 hours", unit="s", css_class="runtimes"),
        "failing_svg": hbars_svg(
            [(row["task_name"], [("failed", row["count"], "#c0392b")]) for row in figures["top_failing"]],
            title="Most failing task names, last 24 hours", unit="", css_class="failing"),
    }


def render_home_charts() -> str:
    """The charts fragment (pushed to every watcher of the home page; rendered once per poll)."""
    # A little younger than the poll interval, so each poll sees new figures, not the last ones.
    figures = monitor_figures(max_age=CHARTS_INTERVAL - 1)
    return render_to_string("dashboard/_home_charts.html", charts_context(figures))
