"""The daily report: one row per day (DailyReport) with the site's figures for that day.

A day is midnight to midnight in the site time zone (settings.TIME_ZONE), so a daylight-saving day
has 23 or 25 hours. Building a day's report again replaces that day's figures (update_or_create on
the unique day), so the job is safe to re-run and to retry.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery import states
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.models import DailyReport

TOP_FAILING = 5
COMMENT_OUTCOMES = ["approved", "held", "spam", "rejected", "pending"]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of `day` in the site time zone, as aware datetimes."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def yesterday() -> date:
    return timezone.localdate() - timedelta(days=1)


def daily_report_build(*, day: date) -> DailyReport:
    """Compute `day`'s figures and save them as that day's report (created or updated)."""
    start, end = day_bounds(day)
    figures: dict = {"new_members": get_user_model().objects.filter(date_joined__gte=start, date_joined__lt=end).count()}
    figures.update(_blog_figures(start, end))
    tasks = _task_figures(start, end)
    details = {
        "comments_by_outcome": figures.pop("comments_by_outcome"),
        "tasks_by_state": tasks["by_state"],
        "top_failing_tasks": tasks["top_failing"],
        "blog_figures": figures.pop("blog_available"),
    }
    report, _ = DailyReport.objects.update_or_create(
        day=day,
        defaults={
            **figures,
            "tasks_total": sum(row["count"] for row in tasks["by_state"].values()),
            "tasks_failed": tasks["by_state"].get(states.FAILURE, {}).get("count", 0),
            "details": details,
        },
    )
    return report


def _blog_figures(start: datetime, end: datetime) -> dict:
    """Members verified, comments by outcome, posts published and emails, from the blog's models.

    Computed whenever the blog app's models are installed; zeros (and blog_available False) if not,
    so the dashboard never needs the blog to build a report.
    """
    try:
        Profile = apps.get_model("blog", "Profile")
        Post = apps.get_model("blog", "Post")
        Comment = apps.get_model("blog", "Comment")
        OutboundEmail = apps.get_model("blog", "OutboundEmail")
    except LookupError:
        return {
            "verified_members": 0, "comments_total": 0, "posts_published": 0, "emails_sent": 0,
            "emails_failed": 0, "comments_by_outcome": {}, "blog_available": False,
        }
    comments = dict(
        Comment.objects.filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    by_outcome = {status: comments.get(status, 0) for status in COMMENT_OUTCOMES}
    by_outcome.update({status: n for status, n in comments.items() if status not in by_outcome})
    return {
        "verified_members": Profile.objects.filter(email_verified_at__gte=start, email_verified_at__lt=end).count(),
        "comments_total": sum(comments.values()),
        "posts_published": Post.objects.filter(status="published", published_at__gte=start, published_at__lt=end).count(),
        "emails_sent": OutboundEmail.objects.filter(status="sent", sent_at__gte=start, sent_at__lt=end).count(),
        # An email has no failed-at time: count the day's emails that ended up failed.
        "emails_failed": OutboundEmail.objects.filter(status="failed", created_at__gte=start, created_at__lt=end).count(),
        "comments_by_outcome": by_outcome,
        "blog_available": True,
    }


def _task_figures(start: datetime, end: datetime) -> dict:
    """Tasks finished in [start, end) per state with p50/p95 runtime, and the most failing names."""
    finished = TaskResult.objects.filter(date_done__gte=start, date_done__lt=end)
    runtimes: dict[str, list[float]] = defaultdict(list)
    counts: Counter[str] = Counter()
    rows = finished.values_list("status", "date_started", "date_done").order_by()
    # Inside a transaction: a server-side cursor lives in one, so behind a pooler in transaction
    # mode (pgbouncer) every fetch reaches the server connection that holds the cursor.
    with transaction.atomic():
        for status, started, done in rows.iterator(chunk_size=2000):
            counts[status] += 1
            if started and done and done >= started:
                runtimes[status].append((done - started).total_seconds())
    by_state = {
        status: {"count": counts[status], "p50": percentile(runtimes[status], 50), "p95": percentile(runtimes[status], 95)}
        for status in sorted(counts)
    }
    top_failing = [
        {"task_name": row["task_name"] or "(unnamed)", "count": row["n"]}
        for row in finished.filter(status=states.FAILURE)
        .order_by()
        .values("task_name")
        .annotate(n=Count("id"))
        .order_by("-n", "task_name")[:TOP_FAILING]
    ]
    return {"by_state": by_state, "top_failing": top_failing}


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (a value that occurred), rounded to milliseconds; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)
