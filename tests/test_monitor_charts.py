"""Charts on the dashboard home: figures from known TaskResult rows, the page, the live socket."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery import states
from django.core.cache import cache
from django_celery_results.models import TaskResult
from websockets.exceptions import InvalidStatus

from dashboard.home.charts import FIGURES_KEY, monitor_figures_compute
from tests.conftest import session_cookie
from tests.livetools import signed_in_as, ws_connect

NOW = datetime(2031, 3, 14, 12, 34, 56, tzinfo=UTC)


def add_rows(name: str, status: str, *, done: datetime, count: int = 1, runtime: float = 1.0, wait: float = 0.5) -> None:
    """`count` rows finished at `done` (date_created and date_done are automatic, so set them after)."""
    for _ in range(count):
        row = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name=name, status=status)
        started = done - timedelta(seconds=runtime)
        TaskResult.objects.filter(pk=row.pk).update(
            date_done=done, date_started=started, date_created=started - timedelta(seconds=wait)
        )


@pytest.fixture(autouse=True)
def fresh_figures():
    cache.delete(FIGURES_KEY)
    yield
    cache.delete(FIGURES_KEY)


def bucket(buckets, moment: datetime) -> dict:
    return next(counts for start, counts in buckets if start <= moment < start + (buckets[1][0] - buckets[0][0]))


def test_per_minute_and_per_hour_counts_by_outcome(db):
    add_rows("app.a_task", states.SUCCESS, done=NOW - timedelta(minutes=5), count=3)
    add_rows("app.b_task", states.FAILURE, done=NOW - timedelta(minutes=5))
    add_rows("app.a_task", states.RETRY, done=NOW - timedelta(minutes=10), count=2)
    add_rows("app.a_task", states.SUCCESS, done=NOW - timedelta(hours=3), count=4)
    add_rows("app.a_task", states.SUCCESS, done=NOW - timedelta(days=8))  # outside both windows
    add_rows("app.a_task", states.SUCCESS, done=NOW - timedelta(minutes=61))  # outside the hour
    add_rows("app.a_task", states.STARTED, done=NOW - timedelta(minutes=1))  # not finished: not counted

    figures = monitor_figures_compute(now=NOW)

    assert len(figures["per_minute"]) == 60 and len(figures["per_hour"]) == 24 * 7
    assert bucket(figures["per_minute"], NOW - timedelta(minutes=5)) == {states.SUCCESS: 3, states.FAILURE: 1}
    assert bucket(figures["per_minute"], NOW - timedelta(minutes=10)) == {states.RETRY: 2}
    hour_totals = {s: sum(c.get(s, 0) for _, c in figures["per_minute"]) for s in (states.SUCCESS, states.FAILURE, states.RETRY)}
    assert hour_totals == {states.SUCCESS: 3, states.FAILURE: 1, states.RETRY: 2}
    week_totals = {s: sum(c.get(s, 0) for _, c in figures["per_hour"]) for s in (states.SUCCESS, states.FAILURE, states.RETRY)}
    assert week_totals == {states.SUCCESS: 3 + 4 + 1, states.FAILURE: 1, states.RETRY: 2}
    assert bucket(figures["per_hour"], NOW - timedelta(hours=3)) == {states.SUCCESS: 4}


def test_runtime_and_queue_wait_percentiles_per_task_name(db):
    for seconds in range(1, 11):  # runtimes 1..10 s, each waited 2 s in the queue
        add_rows("app.slow_task", states.SUCCESS, done=NOW - timedelta(minutes=seconds), runtime=seconds, wait=2)
    add_rows("app.quick_task", states.SUCCESS, done=NOW - timedelta(hours=2), count=3, runtime=0.25, wait=0.5)
    add_rows("app.slow_task", states.SUCCESS, done=NOW - timedelta(hours=30), runtime=500)  # older than 24 h

    timings = monitor_figures_compute(now=NOW)["timings"]

    by_name = {row["task_name"]: row for row in timings["by_name"]}
    assert [row["task_name"] for row in timings["by_name"]] == ["app.slow_task", "app.quick_task"]
    assert (by_name["app.slow_task"]["count"], by_name["app.slow_task"]["p50"], by_name["app.slow_task"]["p95"]) == (10, 5.0, 10.0)
    assert (by_name["app.quick_task"]["p50"], by_name["app.quick_task"]["p95"]) == (0.25, 0.25)
    assert by_name["app.slow_task"]["wait_p50"] == 2.0
    assert (timings["wait_p50"], timings["wait_p95"], timings["wait_count"]) == (2.0, 2.0, 13)


def test_top_failing_task_names_of_the_last_day(db):
    add_rows("app.b_task", states.FAILURE, done=NOW - timedelta(hours=1), count=3)
    add_rows("app.c_task", states.FAILURE, done=NOW - timedelta(hours=23))
    add_rows("app.d_task", states.FAILURE, done=NOW - timedelta(hours=25), count=9)  # older than a day
    add_rows("app.e_task", states.SUCCESS, done=NOW - timedelta(hours=1), count=5)

    top = monitor_figures_compute(now=NOW)["top_failing"]

    assert top == [{"task_name": "app.b_task", "count": 3}, {"task_name": "app.c_task", "count": 1}]


def test_home_shows_charts_readable_without_javascript(client, alice):
    from django.utils import timezone

    now = timezone.now()
    add_rows("app.a_task", states.SUCCESS, done=now - timedelta(minutes=2), count=4, runtime=3)
    add_rows("app.b_task", states.FAILURE, done=now - timedelta(minutes=2), count=2)
    client.force_login(alice)

    html = client.get("/dashboard/").content.decode()

    assert 'id="home-charts"' in html and 'ws-connect="/ws/dashboard/charts/"' in html
    assert html.count("<svg class=\"chart") == 4
    assert '<title>Tasks finished per minute, last hour</title>' in html
    assert ": 4 succeeded, 2 failed, 0 retried</title>" in html  # the busy minute's bar says its counts
    assert 'data-state="SUCCESS" data-count="4">4 succeeded' in html
    assert '<tr data-task-name="app.a_task"><td><code>app.a_task</code></td><td class="count">4</td>' in html
    assert '<li data-task-name="app.b_task"><code>app.b_task</code>: <span class="count">2</span> failed</li>' in html


def test_members_and_anonymous_cannot_see_the_charts(client, bob):
    assert client.get("/dashboard/").status_code == 302
    client.force_login(bob)
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.live
def test_charts_socket_sends_a_snapshot_and_refuses_non_staff(daphne_server, transactional_db, alice, bob):
    add_rows("app.live_task", states.FAILURE, done=datetime.now(UTC) - timedelta(minutes=1), count=2)
    with ws_connect(daphne_server, "/ws/dashboard/charts/", session_cookie(alice)) as ws:
        snapshot = ws.recv(timeout=15)
    assert snapshot.startswith('<div id="home-charts"')
    assert '<code>app.live_task</code>: <span class="count">2</span> failed' in snapshot
    member = session_cookie(bob)
    assert signed_in_as(daphne_server, member) == "bob"  # refused as a member, not as a stranger
    for cookie, origin in [(None, None), (member, None), (session_cookie(alice), "http://evil.example")]:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(daphne_server, "/ws/dashboard/charts/", cookie, origin=origin)
        assert refused.value.response.status_code == 403
