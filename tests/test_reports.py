"""The daily report: figures against known fixtures, idempotent re-runs, the staff pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from celery import states
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult

from blog.models import Comment, OutboundEmail, Post, Profile
from dashboard.models import DailyReport
from dashboard.reports.services import daily_report_build, percentile
from dashboard.tasks import daily_report_task

DAY = date(2026, 3, 10)
IN_DAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BEFORE = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
AFTER = datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def _user(name, joined):
    user = get_user_model().objects.create_user(username=name, password="x")
    get_user_model().objects.filter(pk=user.pk).update(date_joined=joined)
    return user


def _task(task_id, name, status, done, runtime):
    TaskResult.objects.create(task_id=task_id, task_name=name, status=status)
    TaskResult.objects.filter(task_id=task_id).update(date_started=done - timedelta(seconds=runtime), date_done=done)


@pytest.fixture
def known_day(db):
    """A day with known figures, plus rows just outside it that must not count."""
    members = [_user(f"m{i}", IN_DAY) for i in range(3)]
    _user("early", BEFORE)
    _user("late", AFTER)
    Profile.objects.update_or_create(user=members[0], defaults={"email_verified_at": IN_DAY})
    Profile.objects.update_or_create(user=members[1], defaults={"email_verified_at": AFTER})
    author = members[2]
    posts = [Post.objects.create(title=f"p{i}", slug=f"p{i}", body="b", author=author) for i in range(3)]
    Post.objects.filter(pk=posts[0].pk).update(status="published", published_at=IN_DAY)
    Post.objects.filter(pk=posts[1].pk).update(status="published", published_at=BEFORE)
    for status, n in (("approved", 4), ("held", 2), ("spam", 1)):
        for _ in range(n):
            comment = Comment.objects.create(post=posts[0], author=author, body="c")
            Comment.objects.filter(pk=comment.pk).update(status=status, created_at=IN_DAY)
    outside = Comment.objects.create(post=posts[0], author=author, body="c")
    Comment.objects.filter(pk=outside.pk).update(status="approved", created_at=AFTER)
    for status, sent_at, n in (("sent", IN_DAY, 5), ("failed", None, 2), ("sent", AFTER, 1)):
        for _ in range(n):
            email = OutboundEmail.objects.create(to="a@example.com", subject="s", body="b", kind="k")
            OutboundEmail.objects.filter(pk=email.pk).update(status=status, sent_at=sent_at, created_at=sent_at or IN_DAY)
    # Runtimes 1..10 s for successes; failures of two task names.
    for i in range(1, 11):
        _task(f"ok-{i}", "blog.tasks.email_send_task", states.SUCCESS, IN_DAY, i)
    for i in range(3):
        _task(f"bad-a-{i}", "blog.tasks.email_send_task", states.FAILURE, IN_DAY, 2)
    _task("bad-b", "dashboard.tasks.demo_job_task", states.FAILURE, IN_DAY, 4)
    _task("other-day", "dashboard.tasks.demo_job_task", states.FAILURE, AFTER, 1)


def test_daily_report_figures_match_the_known_day(known_day):
    report = daily_report_build(day=DAY)
    assert report.new_members == 3
    assert report.verified_members == 1
    assert report.posts_published == 1
    assert report.comments_total == 7
    assert report.details["comments_by_outcome"] == {"approved": 4, "held": 2, "spam": 1, "rejected": 0, "pending": 0}
    assert (report.emails_sent, report.emails_failed) == (5, 2)
    assert (report.tasks_total, report.tasks_failed) == (14, 4)
    assert report.details["tasks_by_state"]["SUCCESS"] == {"count": 10, "p50": 5.0, "p95": 10.0}
    assert report.details["tasks_by_state"]["FAILURE"] == {"count": 4, "p50": 2.0, "p95": 4.0}
    assert report.details["top_failing_tasks"] == [
        {"task_name": "blog.tasks.email_send_task", "count": 3},
        {"task_name": "dashboard.tasks.demo_job_task", "count": 1},
    ]


def test_running_the_report_twice_updates_the_days_row(known_day):
    first = daily_report_build(day=DAY)
    _user("m-late-joiner", IN_DAY)
    second = daily_report_task.apply(kwargs={"day": DAY.isoformat()}).get()
    assert DailyReport.objects.filter(day=DAY).count() == 1
    assert second["report_id"] == first.pk
    assert DailyReport.objects.get(day=DAY).new_members == 4


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_day_is_midnight_to_midnight_in_the_site_time_zone(db):
    # 23:30 UTC on 9 March is 00:30 on 10 March in Berlin.
    _user("berlin-night-owl", datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    _user("utc-late", datetime(2026, 3, 10, 23, 30, tzinfo=UTC))  # 00:30 on the 11th in Berlin
    assert daily_report_build(day=DAY).new_members == 1


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_report_list_is_newest_first_with_a_30_day_svg_chart_and_detail(db, client, alice):
    today = timezone.localdate()
    for offset in (1, 2, 40):
        DailyReport.objects.create(day=today - timedelta(days=offset), new_members=offset, tasks_failed=1)
    client.force_login(alice)
    html = client.get(reverse("dashboard:report_list")).content.decode()
    days = [(today - timedelta(days=o)).isoformat() for o in (1, 2, 40)]
    positions = [html.index(f'href="/dashboard/reports/{d}/"') for d in days]
    assert positions == sorted(positions)
    assert html.count('<svg class="chart') == 6
    chart = html[html.index('<svg class="chart new_members'):]
    chart = chart[: chart.index("</svg>")]
    assert chart.count("<rect") == 30
    assert f'data-day="{days[0]}" data-value="1"' in chart and f'data-day="{days[1]}" data-value="2"' in chart
    assert days[2] not in chart  # older than 30 days
    assert "<script" not in html.split("<main", 1)[1]

    detail = client.get(reverse("dashboard:report_detail", args=[days[0]]))
    assert detail.status_code == 200 and 'data-figure="new_members">1<' in detail.content.decode()
    assert client.get(reverse("dashboard:report_detail", args=["2001-01-01"])).status_code == 404
    assert client.get(reverse("dashboard:report_detail", args=["not-a-day"])).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_report_detail_is_staff_only(db, client, bob, who):
    DailyReport.objects.create(day=DAY)
    if who == "bob":
        client.force_login(bob)
    response = client.get(reverse("dashboard:report_detail", args=[DAY.isoformat()]))
    assert response.status_code == 302 and "/login/" in response["Location"]
