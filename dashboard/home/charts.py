"""Task charts for the dashboard home: throughput, runtime and queue wait, top failing tasks.

Figures come from django-celery-results' TaskResult and are computed in the database with bounded
time windows, so they stay fast on a table of 1,000,000 rows or more:

- tasks per minute (last hour) and per hour (last 7 days) by outcome: one `GROUP BY` on
  `Trunc(date_done)` and status over an index range on `date_done`. A closed hour no longer
  changes, so each is cached for 8 days in the shared cache; the current hour is summed from the
  per-minute rows already fetched. A refresh therefore reads about one hour of rows; only the very
  first one reads the whole week (2 s on SQLite with 1,000,000 rows, 233,000 in that week).
- per task name over the last 24 hours: one `GROUP BY name, status` on the `date_done` range gives
  the most frequent and the most failing names; runtime (date_done - date_started) and queue wait
  (date_started - date_created) p50/p95 come from ONE bounded sample, the newest RUNTIME_SAMPLE
  successes (`ORDER BY date_done DESC LIMIT`), percentiles in Python.
  Measured on SQLite, 1,000,000 rows over 30 days: a whole refresh takes 0.36 s (in a thread,
  at most once per settings.HOME_CHARTS_INTERVAL per process), of which ~0.2 s the group and ~0.15 s the sample.

"Retried" counts rows whose latest state is RETRY: django-celery-results keeps one row per task,
which later becomes SUCCESS or FAILURE, so a retry is visible while the task waits for its next try.

The charts are server-rendered SVG (no JavaScript), each with <title> elements per bar and a text
summary or table next to it. The whole figure set is cached for settings.HOME_CHARTS_INTERVAL seconds in the
shared cache, and the live home page gets it from one poller per daphne process (dashboard.live.poller).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from celery import states
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Value
from django.db.models.functions import Coalesce, TruncHour, TruncMinute
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django_celery_results.models import TaskResult

from dashboard.charts import hbars_svg, stacked_bars_svg
from dashboard.reports.services import percentile

FIGURES_KEY = "dashboard:monitor:figures"
TOP_NAMES = 8
RUNTIME_SAMPLE = 20_000
TOP_FAILING = 5

OUTCOMES = [
    (states.SUCCESS, pgettext_lazy("tasks", "succeeded"), "ok"),
    (states.FAILURE, pgettext_lazy("tasks", "failed"), "bad"),
    (states.RETRY, pgettext_lazy("tasks", "retried"), "warn"),
]
OUTCOME_STATES = [state for state, _, _ in OUTCOMES]


# --- figures ---

def monitor_figures(*, now: datetime | None = None, max_age: float | None = None) -> dict:
    """All chart figures; cached for `max_age` seconds when computed for the present."""
    max_age = settings.HOME_CHARTS_INTERVAL if max_age is None else max_age
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

    timings, top_failing = _day_figures(now - timedelta(hours=24))
    return {
        "computed_at": timezone.now(),
        "per_minute": [(minute, per_minute.get(minute, {})) for minute in minutes],
        "per_hour": [(hour, per_hour.get(hour, {})) for hour in hours],
        "timings": timings,
        "top_failing": top_failing,
    }


def _outcome_counts(trunc, start: datetime, end: datetime) -> dict[datetime, dict[str, int]]:
    rows = (
        TaskResult.objects.filter(date_done__gte=start, date_done__lt=end, status__in=OUTCOME_STATES)
        .order_by()
        .annotate(bucket=trunc("date_done"), state=Coalesce("status", Value("")))  # see _day_figures
        .values("bucket", "state")
        .annotate(n=Count("id"))
    )
    counts: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[timezone.localtime(row["bucket"])][row["state"]] = row["n"]
    return counts


def _closed_hours(start: datetime, end: datetime, *, use_cache: bool) -> dict[datetime, dict[str, int]]:
    """Counts per hour in [start, end). A closed hour no longer changes, so each is cached on its
    own (8 days): after the first fill, a new hour costs one query over one hour of rows."""
    hours = []
    moment = start
    while moment < end:
        hours.append(moment)
        moment += timedelta(hours=1)
    keys = {hour: f"dashboard:monitor:hour:{hour.isoformat()}" for hour in hours}
    cached = cache.get_many(list(keys.values())) if use_cache else {}
    counts = {hour: cached[keys[hour]] for hour in hours if keys[hour] in cached}
    missing = [hour for hour in hours if hour not in counts]
    if missing:
        found = _outcome_counts(TruncHour, missing[0], missing[-1] + timedelta(hours=1))
        fresh = {hour: dict(found.get(hour, {})) for hour in missing}
        counts.update(fresh)
        if use_cache:
            cache.set_many({keys[hour]: value for hour, value in fresh.items()}, timeout=8 * 24 * 3600)
    return counts


def _day_figures(since: datetime) -> tuple[dict, list[dict]]:
    """Timings of the most frequent task names, and the most failing names, since `since`."""
    # Grouping on expressions keeps SQLite's planner on the date_done range: grouping on the bare
    # columns made it walk the whole table through the task-name or status index (2-3 s at 1M rows).
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        TaskResult.objects.filter(date_done__gte=since)
        .order_by()
        .annotate(name=Coalesce("task_name", Value("")), state=Coalesce("status", Value("")))
        .values("name", "state")
        .annotate(n=Count("id"))
    )
    for row in rows:
        counts[row["name"]][row["state"]] = row["n"]
    ranked = sorted((-c.get(states.SUCCESS, 0), name) for name, c in counts.items() if c.get(states.SUCCESS))
    frequent = [name for _, name in ranked[:TOP_NAMES]]
    failing = sorted((-c[states.FAILURE], name) for name, c in counts.items() if c.get(states.FAILURE))
    top_failing = [{"task_name": name or "(unnamed)", "count": -n} for n, name in failing[:TOP_FAILING]]

    # One bounded sample: the newest RUNTIME_SAMPLE successes (date_done index, read backwards).
    runtimes: dict[str, list[float]] = defaultdict(list)
    waits: dict[str, list[float]] = defaultdict(list)
    sample = (
        TaskResult.objects.filter(status=states.SUCCESS, date_done__gte=since)
        .order_by("-date_done").values_list("task_name", "date_created", "date_started", "date_done")[:RUNTIME_SAMPLE]
    )
    for name, created, started, done in sample:
        name = name or ""
        if started and done and done >= started:
            runtimes[name].append((done - started).total_seconds())
        if created and started and started >= created:
            waits[name].append((started - created).total_seconds())
    all_waits = [wait for name in frequent for wait in waits[name]]
    timings = {
        "by_name": [
            {
                "task_name": name or "(unnamed)",
                "count": counts[name][states.SUCCESS],
                "sampled": len(runtimes[name]),
                "p50": percentile(runtimes[name], 50),
                "p95": percentile(runtimes[name], 95),
                "wait_p50": percentile(waits[name], 50),
                "wait_p95": percentile(waits[name], 95),
            }
            for name in frequent
        ],
        "wait_p50": percentile(all_waits, 50),
        "wait_p95": percentile(all_waits, 95),
        "wait_count": len(all_waits),
    }
    return timings, top_failing


# --- rendering ---


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
            figures["per_minute"], series=OUTCOMES, title=gettext("Tasks finished per minute, last hour"), label_format="%H:%M",
            tick_every=10, css_class="per-minute"),
        "per_hour_svg": stacked_bars_svg(
            figures["per_hour"], series=OUTCOMES, title=gettext("Tasks finished per hour, last 7 days"), label_format="%a %H:%M",
            tick_every=24, css_class="per-hour"),
        "runtime_svg": hbars_svg(
            [(row["task_name"], [("p50", row["p50"], "accent-light"), ("p95", row["p95"], "accent")]) for row in timings["by_name"]],
            title=gettext("Runtime p50 and p95 per task name, last 24 hours"), unit="s", css_class="runtimes"),
        "failing_svg": hbars_svg(
            [(row["task_name"], [(pgettext("tasks", "failed"), row["count"], "bad")]) for row in figures["top_failing"]],
            title=gettext("Most failing task names, last 24 hours"), unit="", css_class="failing"),
    }


def render_home_charts() -> str:
    """The charts fragment (pushed to every watcher of the home page; rendered once per poll)."""
    # A little younger than the poll interval, so each poll sees new figures, not the last ones.
    figures = monitor_figures(max_age=settings.HOME_CHARTS_INTERVAL - 1)
    return render_to_string("dashboard/home/_charts.html", charts_context(figures))
