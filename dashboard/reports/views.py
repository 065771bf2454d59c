"""Daily report pages (staff only): the list, newest first, with 30-day charts, and one day's report."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dashboard.charts import daily_bars_svg
from dashboard.models import DailyReport
from site_config.machinery.staff import staff_required

REPORTS_PER_PAGE = 30
CHART_DAYS = 30
CHARTED = [
    ("new_members", _("New members")),
    ("comments_total", _("Comments")),
    ("posts_published", _("Posts published")),
    ("emails_sent", _("Emails sent")),
    ("tasks_total", _("Tasks run")),
    ("tasks_failed", _("Tasks failed")),
]


def _charts() -> list[dict]:
    """One chart per figure over the last 30 days; a day without a report shows as 0."""
    last = timezone.localdate() - timedelta(days=1)
    days = [last - timedelta(days=offset) for offset in range(CHART_DAYS - 1, -1, -1)]
    by_day = {report.day: report for report in DailyReport.objects.filter(day__gte=days[0], day__lte=last)}
    charts = []
    for field, label in CHARTED:
        points = [(day, getattr(by_day[day], field) if day in by_day else 0) for day in days]
        color = "bad" if field == "tasks_failed" else "accent"
        svg = daily_bars_svg(points, title=gettext("%(figure)s, last %(days)d days") % {"figure": label, "days": CHART_DAYS},
                             css_class=field, color=color)
        charts.append({"label": label, "svg": svg})
    return charts


@staff_required
def report_list(request):
    page = Paginator(DailyReport.objects.order_by("-day"), REPORTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "dashboard/reports/list.html", {"page": page, "reports": page.object_list, "charts": _charts()})


@staff_required
def report_detail(request, day: str):
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise Http404("No such day.") from None
    report = get_object_or_404(DailyReport, day=parsed)
    details = report.details or {}
    context = {
        "report": report,
        "comments_by_outcome": sorted((details.get("comments_by_outcome") or {}).items()),
        "tasks_by_state": sorted((details.get("tasks_by_state") or {}).items()),
        "top_failing": details.get("top_failing_tasks") or [],
        "blog_available": details.get("blog_figures", True),
        "previous": DailyReport.objects.filter(day__lt=parsed).order_by("-day").first(),
        "next": DailyReport.objects.filter(day__gt=parsed).order_by("day").first(),
    }
    return render(request, "dashboard/reports/detail.html", context)
