"""Task monitor: filters and keyset pages, and permission-checked, audited actions on real tasks."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.contrib.auth.models import Permission
from django.utils import timezone
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from dashboard.models import TaskAction, TaskEvent, TaskLaunch
from dashboard.monitor.actions import TaskActionRefused, task_retry, task_revoke
from dashboard.monitor.filters import DEFAULT_ORDER, decode_cursor, tasks_page
from dashboard.tasks import demo_job_task
from site_config.machinery.stored_texts import stored_text
from tests.conftest import browser_login, make_user, start_worker
from tests.livetools import process_exists, wait_for, worker_pid_running
from tests.worker_tasks import gated_demo_job_task


@pytest.fixture
def olivia(db):
    """A staff operator allowed to act on tasks."""
    user = make_user("olivia", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="act_on_tasks"))
    return user


def _final(task_id: str, timeout: float = 30):
    return wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status__in=states.READY_STATES).first(),
                    timeout=timeout)


# --- acting on real tasks -------------------------------------------------------------------------

@pytest.mark.live
def test_retry_sends_the_same_call_as_a_new_linked_task_that_runs(live_worker, olivia):
    original = demo_job_task.delay_for(olivia, 3, 10, 2)
    assert _final(original.id).status == states.FAILURE
    new_id = task_retry(user=olivia, task_id=original.id)
    assert new_id != original.id
    launch = TaskLaunch.objects.get(task_id=new_id)
    assert launch.retry_of == original.id
    assert launch.args == [3, 10, 2] and launch.launched_by == olivia
    assert _final(new_id).status == states.FAILURE  # it ran again, with the same arguments
    assert TaskEvent.objects.filter(task_id=new_id, kind="started").exists()
    action = TaskAction.objects.get(task_id=original.id)
    assert (action.kind, action.new_task_id, action.user) == ("retry", new_id, olivia)
    # A second retry of the same original (a double click, another operator) is refused.
    with pytest.raises(TaskActionRefused, match=f"Already retried as {new_id}"):
        task_retry(user=olivia, task_id=original.id)
    assert TaskLaunch.objects.filter(retry_of=original.id).count() == 1


def test_a_running_or_successful_task_cannot_be_retried(live_worker, olivia, gate):
    task = gated_demo_job_task.delay_for(olivia, 1, 0, gate_key=gate.key)
    wait_for(lambda: TaskResult.objects.filter(task_id=task.id, status=states.STARTED).exists())  # held at its gate
    with pytest.raises(TaskActionRefused, match="Only failed or revoked tasks can be retried; this one is started"):
        task_retry(user=olivia, task_id=task.id)
    gate.open()
    assert _final(task.id).status == states.SUCCESS
    with pytest.raises(TaskActionRefused, match="Only failed or revoked tasks can be retried; this one is success"):
        task_retry(user=olivia, task_id=task.id)
    assert not TaskAction.objects.exists()


@pytest.mark.live
def test_revoked_queued_task_never_runs_even_on_a_worker_that_missed_the_revoke(live_worker, olivia):
    parked = demo_job_task.apply_async((5, 10), queue="parked", headers={"launched_by": olivia.pk})
    task_revoke(user=olivia, task_id=parked.id)
    assert TaskResult.objects.get(task_id=parked.id).status == states.REVOKED  # at once
    late_worker = start_worker("parked-worker", "--queues", "parked")
    try:
        wait_for(lambda: TaskEvent.objects.filter(task_id=parked.id, kind="received").exists(), timeout=30)
        wait_for(lambda: TaskEvent.objects.filter(task_id=parked.id, kind="ignored").exists(), timeout=30)
    finally:
        late_worker.stop()
    row = TaskResult.objects.get(task_id=parked.id)
    assert row.status == states.REVOKED
    assert not TaskEvent.objects.filter(task_id=parked.id, kind__in=["started", "succeeded"]).exists()
    assert TaskAction.objects.get(task_id=parked.id).kind == "revoke"


@pytest.mark.live
def test_terminate_stops_a_running_task_and_it_stays_revoked(live_worker, olivia, gate):
    running = gated_demo_job_task.delay_for(olivia, 2, 0, gate_key=gate.key)
    gate.open_to(1)  # step 1 runs, then the job waits at step 2 until terminated
    wait_for(lambda: TaskResult.objects.filter(task_id=running.id, status="PROGRESS").exists())
    pid = wait_for(lambda: worker_pid_running(running.id))
    task_revoke(user=olivia, task_id=running.id, terminate=True)
    assert TaskResult.objects.get(task_id=running.id).status == states.REVOKED
    wait_for(lambda: TaskEvent.objects.filter(task_id=running.id, kind="revoked",
                                              detail=stored_text("event.terminated")).exists())
    wait_for(lambda: not process_exists(pid))  # the process running it was stopped, not just the row changed
    gate.open()
    # The stored reason names who terminated it, not Celery's bare "terminated" (its process could not say).
    row = wait_for(lambda: TaskResult.objects.filter(task_id=running.id, result__contains="olivia").first())
    assert row.status == states.REVOKED and "reason.terminated_by" in row.result
    assert row.task_name == "tests.worker_tasks.gated_demo_job_task"  # the rest of the row kept
    assert not TaskEvent.objects.filter(task_id=running.id, kind="succeeded").exists()


# --- permissions --------------------------------------------------------------------------------

def test_staff_without_the_permission_can_look_but_not_act(client, transactional_db, alice, olivia):
    parked = demo_job_task.apply_async((2, 0), queue="parked")
    client.force_login(alice)
    page = client.get(f"/dashboard/tasks/{parked.id}/")
    assert page.status_code == 200
    assert "Revoke…" not in page.content.decode()
    assert "needs the permission “Can retry, revoke and terminate tasks from the dashboard”" in page.content.decode()
    for url in (f"/dashboard/tasks/{parked.id}/revoke/", f"/dashboard/tasks/{parked.id}/retry/",
                "/dashboard/tasks/bulk/?action=revoke"):
        assert client.post(url).status_code == 403
    assert TaskResult.objects.get(task_id=parked.id).status == states.PENDING
    assert not TaskAction.objects.exists()
    client.force_login(olivia)
    assert "Revoke…" in client.get(f"/dashboard/tasks/{parked.id}/").content.decode()
    confirm = client.get(f"/dashboard/tasks/{parked.id}/revoke/")
    assert "cancels the task before it runs" in confirm.content.decode()
    assert client.post(f"/dashboard/tasks/{parked.id}/revoke/").status_code == 302
    assert TaskResult.objects.get(task_id=parked.id).status == states.REVOKED


def test_members_and_anonymous_cannot_reach_the_task_list_or_actions(client, transactional_db, bob):
    assert client.get("/dashboard/tasks/").status_code == 302
    client.force_login(bob)
    assert client.get("/dashboard/tasks/").status_code == 302
    assert client.post("/dashboard/tasks/bulk/", {"action": "retry"}).status_code == 302


def test_bulk_revoke_counts_confirms_then_revokes_only_matching_queued_tasks(client, transactional_db, olivia):
    parked = [demo_job_task.apply_async((1, 0), queue="parked") for _ in range(3)]
    client.force_login(olivia)
    confirm = client.get("/dashboard/tasks/bulk/", {"action": "revoke", "state": "PENDING"})
    assert "Revoke 3 tasks?" in confirm.content.decode()
    assert all(TaskResult.objects.get(task_id=t.id).status == states.PENDING for t in parked)
    done = client.post("/dashboard/tasks/bulk/", {"action": "revoke", "state": "PENDING", "confirm": "yes"})
    assert done.status_code == 302
    assert all(TaskResult.objects.get(task_id=t.id).status == states.REVOKED for t in parked)
    assert TaskAction.objects.filter(kind="revoke").values("batch").distinct().count() == 1


def test_member_opens_their_own_task_page_but_not_another_members(client, transactional_db, bob, charlie):
    failed = demo_job_task.apply_async((3, 0), queue="parked", headers={"launched_by": bob.pk})
    TaskResult.objects.filter(task_id=failed.id).update(status=states.FAILURE, result='"boom"',
                                                         traceback="Traceback (most recent call last): secret")
    url = f"/dashboard/tasks/{failed.id}/"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(bob)
    own = client.get(url)
    assert own.status_code == 200
    html = own.content.decode()
    assert f'id="task-{failed.id}-status"' in html and 'data-state="FAILURE"' in html
    assert "Traceback" not in html and "secret" not in html, "members never see tracebacks"
    assert f'ws-connect="/ws/tasks/{failed.id}/"' in html
    client.force_login(charlie)
    # 404, not 403: another member cannot even learn that the task exists.
    assert client.get(url).status_code == 404
    assert client.get("/dashboard/tasks/no-such-task/").status_code == 404


def test_bulk_retry_sends_each_matching_failed_task_once_with_its_arguments(client, transactional_db, olivia):
    failed = [demo_job_task.apply_async((steps, 0), queue="parked", headers={"launched_by": olivia.pk})
              for steps in (1, 2, 3)]
    TaskResult.objects.filter(task_id__in=[t.id for t in failed]).update(status=states.FAILURE)
    succeeded = demo_job_task.apply_async((4, 0), queue="parked")
    TaskResult.objects.filter(task_id=succeeded.id).update(status=states.SUCCESS)
    client.force_login(olivia)
    confirm = client.get("/dashboard/tasks/bulk/", {"action": "retry", "state": "FAILURE"})
    assert "Retry 3 tasks?" in confirm.content.decode()
    assert not TaskLaunch.objects.filter(retry_of__isnull=False).exists()  # looking changes nothing

    done = client.post("/dashboard/tasks/bulk/", {"action": "retry", "state": "FAILURE", "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/dashboard/tasks/?state=FAILURE"
    retries = {launch.retry_of: launch for launch in TaskLaunch.objects.filter(retry_of__isnull=False)}
    assert set(retries) == {t.id for t in failed}
    for original in failed:
        retry = retries[original.id]
        assert retry.args == TaskLaunch.objects.get(task_id=original.id).args
        assert (retry.queue, retry.launched_by) == ("parked", olivia)
        assert TaskResult.objects.get(task_id=retry.task_id).status == states.PENDING
    actions = TaskAction.objects.filter(kind="retry")
    assert actions.count() == 3 and actions.values("batch").distinct().count() == 1
    # Asked again, nothing is left to retry: each original was sent again once.
    again = client.get("/dashboard/tasks/bulk/", {"action": "retry", "state": "FAILURE"})
    assert "Retry 0 tasks?" in again.content.decode()
    client.post("/dashboard/tasks/bulk/", {"action": "retry", "state": "FAILURE", "confirm": "yes"})
    assert TaskLaunch.objects.filter(retry_of__isnull=False).count() == 3


# --- filters and keyset pagination --------------------------------------------------------------

def _rows(count: int, *, start, name="app.tasks.a_task", status=states.SUCCESS, step=timedelta(seconds=1)):
    rows = TaskResult.objects.bulk_create(
        [TaskResult(task_id=str(uuid.uuid4()), task_name=name, status=status) for _ in range(count)]
    )
    for i, row in enumerate(rows):  # date_created is auto_now_add: set it afterwards
        TaskResult.objects.filter(pk=row.pk).update(date_created=start + i * step)
    return [r.task_id for r in rows]


def _walk(data: dict, size: int, on_page=None) -> list[str]:
    seen, cursor = [], None
    while True:
        rows, token, _previous = tasks_page({**data, "cursor": cursor}, size=size)
        seen += [r.task_id for r in rows]
        if on_page:
            on_page()
        if not token:
            return seen
        sort = data.get("sort") or "received"
        cursor = decode_cursor(token, sort=sort, order=data.get("order") or DEFAULT_ORDER[sort])


def test_keyset_pages_return_exactly_the_matching_rows_while_new_rows_arrive(db):
    base = timezone.now() - timedelta(days=1)
    wanted = _rows(30, start=base, name="app.tasks.wanted", status=states.FAILURE)
    _rows(30, start=base + timedelta(milliseconds=500), name="app.tasks.wanted", status=states.SUCCESS)
    _rows(20, start=base, name="app.tasks.other", status=states.FAILURE)
    # Rows with equal timestamps must not be skipped or repeated at page boundaries.
    ties = _rows(7, start=base + timedelta(hours=1), name="app.tasks.wanted", status=states.FAILURE,
                 step=timedelta(0))
    arrivals = iter(range(100))

    def new_rows_arrive():
        _rows(2, start=timezone.now() + timedelta(seconds=next(arrivals)), name="app.tasks.wanted",
              status=states.FAILURE)

    seen = _walk({"state": states.FAILURE, "name": "app.tasks.wanted"}, size=4, on_page=new_rows_arrive)
    expected = list(reversed(wanted))
    assert len(seen) == len(set(seen)) == 37
    assert set(seen) == set(wanted) | set(ties)
    assert [t for t in seen if t in set(wanted)] == expected


def test_filters_in_the_url_combine_and_bad_values_get_a_clear_400(client, db, alice):
    base = timezone.now() - timedelta(hours=2)
    _rows(3, start=base, name="app.tasks.alpha", status=states.FAILURE)
    _rows(2, start=base, name="app.tasks.alpha", status=states.SUCCESS)
    _rows(4, start=base, name="app.tasks.beta", status=states.FAILURE)
    _rows(5, start=base - timedelta(days=3), name="app.tasks.alpha", status=states.FAILURE)
    client.force_login(alice)
    page = client.get("/dashboard/tasks/", {"state": "FAILURE", "name": "app.tasks.alpha"}).content.decode()
    assert page.count('id="task-row-') == 8
    # State chips: counted for the other filters, in the last 24 hours unless dates are chosen.
    chips = client.get("/dashboard/tasks/counts/", {"state": "FAILURE", "name": "app.tasks.alpha"}).content.decode()
    assert re.search(r'data-state="FAILURE"[^>]*>Failure <strong>3</strong>', chips)
    assert re.search(r'data-state="SUCCESS"[^>]*>Success <strong>2</strong>', chips)
    assert "in the last 24 hours" in chips
    since = (timezone.now() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    chips = client.get("/dashboard/tasks/counts/", {"name": "app.tasks.alpha", "date_from": since}).content.decode()
    assert re.search(r'data-state="FAILURE"[^>]*>Failure <strong>8</strong>', chips)
    bad = client.get("/dashboard/tasks/", {"date_from": "yesterday-ish"})
    assert bad.status_code == 400 and "Enter a valid date/time" in bad.content.decode()
    for damaged in ({"cursor": "not-a-cursor"}, {"cursor": "garbage~5"}, {"sort": "runtime", "cursor": "inf~1"},
                    {"cursor": f"2026-01-01T00:00:00~{10**30}"}):
        response = client.get("/dashboard/tasks/", damaged)
        assert response.status_code == 400 and "page link is damaged" in response.content.decode(), damaged


# --- in the browser -----------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.live
def test_operator_filters_opens_a_failed_task_retries_it_and_watches_the_new_one_finish(
        page, live_worker, daphne_server, olivia, gate):
    failed = gated_demo_job_task.delay_for(olivia, 3, 0, 3, gate_key=gate.key)
    gate.open()
    _final(failed.id)
    gate.open_to(0)  # closed again: the retry, same arguments and so the same gate, waits at its first step
    demo_job_task.delay_for(olivia, 1, 0)
    browser_login(page, daphne_server.url, "olivia")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    page.get_by_label("State", exact=True).select_option("FAILURE")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"state=FAILURE"))
    expect(page.locator("#task-rows tr")).to_have_count(1)
    page.locator(f"#task-row-{failed.id} a").click()
    expect(page.locator(".task-status .badge")).to_have_text("Failed")
    page.get_by_role("button", name="Retry with the same arguments").click()
    expect(page).not_to_have_url(re.compile(failed.id))
    expect(page.get_by_text("Retry of")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # a reload would drop this marker
    expect(page.locator(".task-status .badge")).to_have_text("Running", timeout=20_000)
    gate.open()
    expect(page.locator(".task-status .badge")).to_have_text("Failed", timeout=20_000)
    expect(page.locator(".task-status .error")).to_contain_text("demo job failed at step 3")
    assert page.evaluate("window.__sameDocument === true")


def test_search_finds_a_task_by_id_at_any_age_and_by_text_within_the_window(client, db, alice):
    recent = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.s", status="SUCCESS",
                                       task_args='"(\'needle-recent\',)"')
    old = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.s", status="SUCCESS",
                                    task_args='"(\'needle-old\',)"')
    TaskResult.objects.filter(pk=old.pk).update(date_created=timezone.now() - timedelta(days=10))
    client.force_login(alice)

    def found(**params) -> set[str]:
        page = client.get("/dashboard/tasks/", params).content.decode()
        return set(re.findall(r'id="task-row-([\w-]+)"', page))

    assert found(q=old.task_id[:13]) == {old.task_id}
    assert found(q="needle") == {recent.task_id}
    around_old = {"date_from": (timezone.now() - timedelta(days=11)).strftime("%Y-%m-%dT%H:%M"),
                  "date_to": (timezone.now() - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")}
    assert found(q="needle", **around_old) == {old.task_id}


def test_text_search_and_counts_read_a_bounded_window_whatever_dates_are_given(client, db, alice, settings):
    settings.TASK_SCAN_MAX_DAYS = 7
    recent = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.s", status="SUCCESS",
                                       task_args='"(\'needle-recent\',)"')
    old = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.s", status="FAILURE",
                                    task_args='"(\'needle-old\',)"')
    TaskResult.objects.filter(pk=old.pk).update(date_created=timezone.now() - timedelta(days=20))
    client.force_login(alice)
    since = (timezone.now() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    page = client.get("/dashboard/tasks/", {"q": "needle", "date_from": since}).content.decode()
    assert set(re.findall(r'id="task-row-([\w-]+)"', page)) == {recent.task_id}
    assert "the latest 7 days of the chosen dates" in page
    chips = client.get("/dashboard/tasks/counts/", {"name": "app.tasks.s", "date_from": since}).content.decode()
    assert re.search(r'data-state="SUCCESS"[^>]*>Success <strong>1</strong>', chips)
    assert re.search(r'data-state="FAILURE"[^>]*>Failure <strong>0</strong>', chips)
    assert "the latest 7 days of the chosen dates" in chips
    # Only "to": the week before it, not everything before it.
    until = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    chips = client.get("/dashboard/tasks/counts/", {"name": "app.tasks.s", "date_to": until}).content.decode()
    assert re.search(r'data-state="FAILURE"[^>]*>Failure <strong>0</strong>', chips)
    # The rows themselves (an index range, no scan) still cover every chosen date.
    listed = client.get("/dashboard/tasks/", {"name": "app.tasks.s", "date_from": since}).content.decode()
    assert set(re.findall(r'id="task-row-([\w-]+)"', listed)) == {recent.task_id, old.task_id}


def test_due_counts_are_recounted_by_one_request_while_the_others_get_the_previous_ones(
        db, django_assert_num_queries):
    from django.core.cache import cache

    from dashboard.monitor.filters import counts_cache_key, state_counts_cached

    data = {"name": "app.tasks.counted"}
    TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.counted", status="SUCCESS")
    first = state_counts_cached(data)
    assert {c.state: c.count for c in first}["SUCCESS"] == 1
    TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.counted", status="SUCCESS")
    with django_assert_num_queries(0):
        assert state_counts_cached(data) == first  # fresh for a few seconds
    key = counts_cache_key(data)
    counts, counted_at = cache.get(key)
    cache.set(key, (counts, counted_at - timedelta(minutes=1)), 600)  # due for a recount
    cache.add(key + ":recount", 1, 60)  # ... which another request is doing
    with django_assert_num_queries(0):
        assert state_counts_cached(data) == first
    cache.delete(key + ":recount")
    assert {c.state: c.count for c in state_counts_cached(data)}["SUCCESS"] == 2


def test_a_state_counted_beyond_the_exact_limit_is_said_to_be_an_estimate(client, db, alice, monkeypatch):
    """A window of few rows is counted exactly in one pass. A larger one would read every row, so
    each state is estimated by PostgreSQL's planner ("about N", from its statistics) and counted
    exactly only when the estimate is small; SQLite, which keeps no statistics, says "more than N"
    above the limit. A small state stays exact beside a large one."""
    from django.db import connection

    from dashboard.monitor import filters

    monkeypatch.setattr(filters, "WINDOW_COUNT_LIMIT", 20)  # a window of more rows is counted state by state
    monkeypatch.setattr(filters, "EXACT_COUNT_LIMIT", 10)
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.many", status="SUCCESS") for _ in range(60)]
        + [TaskResult(task_id=str(uuid.uuid4()), task_name="app.tasks.many", status="FAILURE") for _ in range(4)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE django_celery_results_taskresult")  # what autovacuum does on a live site
    client.force_login(alice)
    chips = client.get("/dashboard/tasks/counts/", {"name": "app.tasks.many"}).content.decode()
    success = re.search(r'data-state="SUCCESS" data-count="(\w+)"[^>]*>[^<]*<strong>([^<]*)</strong>', chips)
    failure = re.search(r'data-state="FAILURE" data-count="(\w+)"[^>]*>[^<]*<strong>([^<]*)</strong>', chips)
    assert failure.groups() == ("exact", "4")
    if connection.vendor == "postgresql":
        assert success.group(1) == "about"
        assert 30 <= int(re.fullmatch(r"about (\d+)", success.group(2)).group(1)) <= 120
    else:
        assert success.groups() == ("over", "more than 10")
    assert "estimate" in chips


def test_queue_and_started_by_pages_walk_the_launches_in_the_order_received(db, alice, monkeypatch):
    """Filtered by queue or by who started them, pages walk TaskLaunch's indexes (its created_at is
    the row's date_created): the same rows in the same order as the unfiltered list shows them,
    none skipped or repeated at page boundaries (ties included), the other filters and the dates
    applied, and the way back returns the same pages. Their state counts are exact."""
    from dashboard.live.store import record_queued

    base = timezone.now() - timedelta(hours=2)
    expected = []
    for i in range(14):
        task_id = str(uuid.uuid4())
        record_queued(task_id=task_id, task_name="app.tasks.q", argsrepr="()", kwargsrepr="{}",
                      periodic_task_name=None, launched_by=alice.pk if i % 2 else None,
                      queue="emails" if i % 3 else "celery")
        status = states.FAILURE if i % 4 else states.SUCCESS
        when = base + timedelta(minutes=i if i < 10 else 10)  # the last four share one instant
        TaskResult.objects.filter(task_id=task_id).update(status=status, date_created=when)
        TaskLaunch.objects.filter(task_id=task_id).update(created_at=when)
        expected.append((task_id, i))
    unfiltered = _walk({}, size=50)
    for data, keep in (({"queue": "emails"}, lambda i: i % 3),
                       ({"launched_by": alice.username}, lambda i: i % 2),
                       ({"queue": "emails", "launched_by": alice.username, "state": states.FAILURE},
                        lambda i: i % 3 and i % 2 and i % 4),
                       ({"queue": "emails", "date_to": base + timedelta(minutes=5, seconds=30)},
                        lambda i: i % 3 and i <= 5)):
        wanted = [task_id for task_id in unfiltered if keep(dict(expected)[task_id])]
        assert wanted and _walk(data, size=2) == wanted, data
        assert _walk_back(data, size=2) == wanted, data
    assert _walk({"launched_by": "nobody-of-that-name"}, size=2) == []

    # The state counts of the same filters, from the window's launches: exact when they are few,
    # else each state's share of the newest launches times their number, said as "about".
    from dashboard.monitor import filters

    by_who = {"launched_by": alice.username}  # 7 tasks, all failed
    counts = {count.state: (count.count, count.kind) for count in filters.state_counts(by_who)}
    assert counts[states.FAILURE] == (7, "exact") and counts[states.SUCCESS] == (0, "exact")
    by_queue = {"queue": "emails", "state": states.SUCCESS}  # the state filter is not counted by
    counts = {count.state: (count.count, count.kind) for count in filters.state_counts(by_queue)}
    assert counts[states.FAILURE] == (7, "exact") and counts[states.SUCCESS] == (2, "exact")
    monkeypatch.setattr(filters, "LAUNCH_EXACT_LIMIT", 4)
    monkeypatch.setattr(filters, "LAUNCH_SAMPLE", 5)  # the newest five: i = 13, 11, 10, 8 (success), 7
    counts = {count.state: (count.count, count.kind) for count in filters.state_counts(by_queue)}
    assert counts[states.FAILURE] == (7, "about") and counts[states.SUCCESS] == (2, "about")  # 9 x 4/5, 9 x 1/5
    assert {c.count for c in filters.state_counts({"launched_by": "nobody-of-that-name"})} == {0}


def test_a_launch_is_dated_with_its_task_rows_own_instant(db, alice):
    from dashboard.live.store import record_queued

    task_id = str(uuid.uuid4())
    record_queued(task_id=task_id, task_name="app.tasks.q", argsrepr="()", kwargsrepr="{}",
                  periodic_task_name=None, launched_by=alice.pk, queue="emails")
    assert TaskLaunch.objects.get(task_id=task_id).created_at == TaskResult.objects.get(task_id=task_id).date_created


def _walk_back(data: dict, size: int) -> list[str]:
    """The pages from the last one back to the first, through each page's "previous" cursor."""
    sort = data.get("sort") or "received"
    order = data.get("order") or DEFAULT_ORDER[sort]
    cursor, last = None, None
    while True:  # to the last page
        last = tasks_page({**data, "cursor": cursor}, size=size)
        if not last.next_cursor:
            break
        cursor = decode_cursor(last.next_cursor, sort=sort, order=order)
    seen = [r.task_id for r in last.rows]
    while last.previous_cursor:
        last = tasks_page({**data, "cursor": decode_cursor(last.previous_cursor, sort=sort, order=order)}, size=size)
        seen = [r.task_id for r in last.rows] + seen
    return seen


def test_runtime_sort_pages_slowest_first_exactly_with_filters(db):
    runtimes = [5.0, 0.25, 3.5, 3.5, 3.5, 9.75, 0.5, 7.0, 1.0, 2.0, 3.5]
    by_id = {}
    for i, runtime in enumerate(runtimes):
        row = TaskResult.objects.create(task_id=str(uuid.uuid4()), task_name="app.tasks.r",
                                        status=states.FAILURE if i % 2 else states.SUCCESS)
        TaskLaunch.objects.create(task_id=row.task_id, runtime=runtime)
        by_id[row.task_id] = (runtime, row.status)
    TaskLaunch.objects.create(task_id=str(uuid.uuid4()))  # still running: no runtime, not listed

    seen = _walk({"sort": "runtime"}, size=3)
    assert len(seen) == len(set(seen)) == len(runtimes)
    assert [by_id[t][0] for t in seen] == sorted(runtimes, reverse=True)
    failed = _walk({"sort": "runtime", "state": states.FAILURE}, size=2)
    assert failed == [t for t in seen if by_id[t][1] == states.FAILURE]


def test_list_socket_counts_only_new_tasks_not_older_ones_finishing_off_the_page(daphne_server, transactional_db,
                                                                                 olivia):
    from tests.conftest import session_cookie
    from tests.livetools import ws_connect

    older = [demo_job_task.apply_async((1, 0), queue="parked") for _ in range(27)]  # 2 fall off page 1
    with ws_connect(daphne_server, "/ws/tasks/", session_cookie(olivia)) as ws:
        snapshot = ws.recv(timeout=5)
        assert f'id="task-row-{older[0].id}"' not in snapshot and f'id="task-row-{older[-1].id}"' in snapshot
        task_revoke(user=olivia, task_id=older[0].id)  # an old task finishing is not "new"
        task_revoke(user=olivia, task_id=older[-1].id)  # a shown row changes in place
        assert 'data-state="REVOKED"' in ws.recv(timeout=5)
        demo_job_task.apply_async((1, 0), queue="parked")
        assert "1 new task: show" in ws.recv(timeout=5)
