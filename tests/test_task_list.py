"""The task list's flexibility: the field search, both sort directions, keyset pages both ways,
per-user columns and page size, copy buttons, and live rows that respect each reader's columns."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import timedelta

import pytest
from celery import states
from django.core.cache import cache
from django.utils import timezone
from django_celery_results.models import TaskResult
from playwright.sync_api import expect

from dashboard.models import TaskLaunch, TaskListPreference
from dashboard.monitor import filters
from dashboard.monitor.filters import (
    SearchSyntaxError,
    TaskFiltersInvalid,
    encode_cursor,
    parse_search,
    task_filter_queryset,
)
from dashboard.monitor.listing import list_queryset
from dashboard.tasks import demo_job_task
from tests.conftest import browser_login
from tests.livetools import wait_for
from tests.worker_tasks import gated_demo_job_task, reversed_text_task, said_and_waiting_task

WORKER = 20_000  # ms: room for a busy machine's worker to pick a job up; nothing is timed against it


def _rows(count: int, *, start, name="app.tasks.a_task", status=states.SUCCESS, step=timedelta(seconds=1),
          worker=None, args=None) -> list[str]:
    rows = TaskResult.objects.bulk_create([
        TaskResult(task_id=str(uuid.uuid4()), task_name=name, status=status, worker=worker,
                   task_args=json.dumps(args) if args is not None else None)
        for _ in range(count)])
    for i, row in enumerate(rows):  # date_created is auto_now_add: set it afterwards
        TaskResult.objects.filter(pk=row.pk).update(date_created=start + i * step)
    return [r.task_id for r in rows]


def _shown(html: str) -> list[str]:
    return re.findall(r'id="task-row-([\w-]+)"', html)


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return "/dashboard/tasks/" + found.group(1).replace("&amp;", "&") if found else None


# --- the search syntax ---------------------------------------------------------------------------

def test_search_parser_splits_fields_from_free_text():
    assert parse_search('name:app.tasks.x state:Failure worker:w1@host args:"two words" needle 12:30') == {
        "name": "app.tasks.x", "state": "FAILURE", "worker": "w1@host", "args": "two words", "text": "needle 12:30"}
    assert parse_search("just words") == {"text": "just words"}
    assert parse_search('"name:not-a-field" Name:x') == {"name": "x", "text": "name:not-a-field"}


@pytest.mark.parametrize(("search", "problem"), [
    ("colour:red", "Unknown field “colour:”"),
    ("name:a name:b", "name: is given twice"),
    ("worker:", "worker: needs a value"),
    ("state:sleepy", "state:sleepy is not a state; use one of pending, started"),
    ('args:"open', "A quotation mark is not closed"),
])
def test_search_parser_names_the_problem(search, problem):
    with pytest.raises(SearchSyntaxError, match=re.escape(problem)):
        parse_search(search)


def test_search_fields_filter_like_the_form_and_errors_show_in_the_page(client, db, alice):
    base = timezone.now() - timedelta(hours=2)
    wanted = _rows(3, start=base, name="app.tasks.alpha", status=states.FAILURE, worker="w1@host",
                   args="(42, 'x')")
    _rows(2, start=base, name="app.tasks.alpha", status=states.SUCCESS, worker="w1@host", args="(42, 'x')")
    _rows(2, start=base, name="app.tasks.alpha", status=states.FAILURE, worker="w2@host", args="(42, 'x')")
    _rows(2, start=base, name="app.tasks.alpha", status=states.FAILURE, worker="w1@host", args="(7,)")
    client.force_login(alice)
    searched = client.get("/dashboard/tasks/", {"q": "state:failure name:app.tasks.alpha worker:w1@host args:42"})
    assert searched.status_code == 200
    assert set(_shown(searched.content.decode())) == set(wanted)
    # The same filters through the form's own fields (and args: as free text) give the same rows.
    form = client.get("/dashboard/tasks/", {"state": "FAILURE", "name": "app.tasks.alpha", "worker": "w1@host",
                                            "q": "42"})
    assert set(_shown(form.content.decode())) == set(wanted)
    # The state from the search is the state filter: its chip is the current one.
    assert 'name="state"' in searched.content.decode()
    for search, problem in (("colour:red", "Unknown field “colour:”"),
                            ("state:success", "state:SUCCESS differs from the State filter (FAILURE)")):
        bad = client.get("/dashboard/tasks/", {"q": search, "state": "FAILURE"})
        assert bad.status_code == 400
        assert problem in bad.content.decode()
    page = client.get("/dashboard/tasks/").content.decode()
    assert "name:&lt;task name&gt; state:" in page  # the help line under the search box


def test_state_chips_replace_a_searched_state_instead_of_contradicting_it(client, db, alice):
    base = timezone.now() - timedelta(hours=1)
    _rows(2, start=base, name="app.tasks.chipped", status=states.FAILURE)
    succeeded = _rows(1, start=base, name="app.tasks.chipped", status=states.SUCCESS)
    client.force_login(alice)
    chips = client.get("/dashboard/tasks/counts/", {"q": "state:failure name:app.tasks.chipped"}).content.decode()
    assert re.search(r'class="chip current" data-state="FAILURE"', chips)
    link = re.search(r'data-state="SUCCESS"[^>]*\s+href="([^"]+)"', chips).group(1).replace("&amp;", "&")
    followed = client.get(link)
    assert followed.status_code == 200 and _shown(followed.content.decode()) == succeeded
    cache.clear()  # the counts are cached per filter for seconds: leave none to another test


def test_args_search_is_bounded_by_the_search_window(client, db, alice):
    recent = _rows(1, start=timezone.now() - timedelta(hours=1), args="('needle',)")
    _rows(1, start=timezone.now() - timedelta(days=3), args="('needle',)")
    client.force_login(alice)
    page = client.get("/dashboard/tasks/", {"q": "args:needle"}).content.decode()
    assert _shown(page) == recent
    assert "text found in the last 24 hours" in page


def test_args_search_looks_in_keyword_arguments_and_skips_empty_ones(client, db, alice):
    """`args:` finds a term in the keyword arguments too; tasks without any ("{}", as Celery writes
    them) are skipped, as the trigram index on them leaves them out (migration 0020)."""
    start = timezone.now() - timedelta(hours=1)
    in_kwargs = _rows(1, start=start)
    TaskResult.objects.filter(task_id__in=in_kwargs).update(task_kwargs=json.dumps("{'invoice': 'INV-42'}"))
    empty = _rows(2, start=start)
    TaskResult.objects.filter(task_id=empty[0]).update(task_kwargs=json.dumps("{}"))
    TaskResult.objects.filter(task_id=empty[1]).update(task_kwargs="{}")
    client.force_login(alice)
    assert _shown(client.get("/dashboard/tasks/", {"q": "args:inv-42"}).content.decode()) == in_kwargs
    assert _shown(client.get("/dashboard/tasks/", {"q": "args:{"}).content.decode()) == in_kwargs
    assert _shown(client.get("/dashboard/tasks/", {"q": "invoice"}).content.decode()) == in_kwargs


@pytest.mark.parametrize("expected", ["few matches", "many matches"])
def test_free_text_finds_the_same_rows_through_its_indexes_or_by_walking(client, db, alice, monkeypatch, expected):
    """Whichever way the planner's estimate sends the free text (text_search_q; SQLite always walks),
    it finds a term in the arguments, in an ended task's result (its launch's copy), and in a running
    or retrying task's result (the row), within the window only."""
    monkeypatch.setattr(filters, "DENSE_TEXT_MATCHES", 10**9 if expected == "few matches" else -1)
    start = timezone.now() - timedelta(hours=1)
    stored = {states.SUCCESS: '{"file": "Sunrise-7.csv"}', states.FAILURE: '{"exc_message": ["sunrise-7 broke"]}',
              "PROGRESS": '{"current": 1, "total": 2, "message": "sunrise-7 half done"}',
              states.RETRY: '{"exc_message": ["SUNRISE-7 down"]}'}
    wanted = []
    for status, result in stored.items():
        task_id = _rows(1, start=start, status=status)[0]
        TaskLaunch.objects.create(task_id=task_id, created_at=start)
        TaskResult.objects.filter(task_id=task_id).update(result=result)  # as the backend stores it
        wanted.append(task_id)
    revoked = str(uuid.uuid4())  # a row that first appears ended: a task revoked before it ran
    TaskLaunch.objects.create(task_id=revoked, created_at=start)
    TaskResult.objects.create(task_id=revoked, status=states.REVOKED, result='{"exc_message": ["sunrise-7 off"]}')
    wanted += [revoked, *_rows(1, start=start, args="('sunrise-7',)")]
    _rows(1, start=start, args="('sunset',)")  # no match
    old = _rows(1, start=timezone.now() - timedelta(days=3), status=states.FAILURE)  # outside the window
    TaskResult.objects.filter(task_id__in=old).update(result='{"exc_message": ["sunrise-7"]}')
    client.force_login(alice)
    found = _shown(client.get("/dashboard/tasks/", {"q": "sunrise-7"}).content.decode())
    assert sorted(found) == sorted(wanted)
    # A socket of that list asks about one pushed row at a time: the same rows belong to it.
    belongs = list_queryset("q=sunrise-7")
    assert sorted(row.task_id for row in TaskResult.objects.all() if belongs.filter(task_id=row.task_id).exists()) \
        == sorted(wanted)


def test_free_text_finds_a_result_whatever_state_its_task_is_in(client, live_worker, alice, gate):
    """A real worker's tasks: the free text finds a success's result and a failure's error (in the
    copy their launches keep, migration 0023) and a running task's progress (in the row)."""
    succeeded = reversed_text_task.delay("esirnus-yrrehc").id  # its result is "cherry-sunrise"
    failed = demo_job_task.delay(2, 0, 1).id
    running = said_and_waiting_task.delay("krow-ni-llits", gate.key).id  # its progress says "still-in-work"
    client.force_login(alice)

    def found(text):
        return _shown(client.get("/dashboard/tasks/", {"q": text}).content.decode())

    assert wait_for(lambda: found("CHERRY-sun") == [succeeded], timeout=WORKER / 1000)
    assert wait_for(lambda: found("failed at step 1 as requested") == [failed], timeout=WORKER / 1000)
    assert wait_for(lambda: found("still-in-work") == [running], timeout=WORKER / 1000)
    assert found("esirnus-yrrehc") == [succeeded]  # and in its arguments, as before
    gate.open()
    assert wait_for(lambda: found("done") == [running], timeout=WORKER / 1000)  # its result once it succeeded
    assert found("still-in-work") == []  # the progress it reported is gone with it


def test_an_ended_tasks_row_is_kept_rendered_per_language_and_a_running_ones_is_not(client, db, alice, bob):
    """Rows of ended tasks come from a cache of rendered rows ({% cache %}, CACHES["rows"]): each
    language gets its own, and a task that is still running shows its latest progress every time."""
    start = timezone.now() - timedelta(minutes=5)
    ended = _rows(1, start=start, status=states.SUCCESS)[0]
    running = _rows(1, start=start, status="PROGRESS")[0]
    client.force_login(alice)

    def row(task_id, **headers):
        html = client.get("/dashboard/tasks/", **headers).content.decode()
        return re.search(rf'<tr id="task-row-{task_id}".*?</tr>', html, re.DOTALL).group(0)

    for _ in range(2):  # rendered, then served from the cache
        assert "Succeeded" in row(ended)
        assert "成功" in row(ended, HTTP_ACCEPT_LANGUAGE="zh-hant")
    TaskLaunch.objects.create(task_id=ended, launched_by=bob)  # another reader of the cache: the launcher's name
    assert ">bob<" in row(ended)
    for current in (1, 2):
        TaskResult.objects.filter(task_id=running).update(
            result=json.dumps({"current": current, "total": 4, "message": "copying"}))
        assert f'aria-valuenow="{current * 25}"' in row(running)


# --- sorting and pages both ways ---------------------------------------------------------------

def test_pages_go_forward_and_back_with_keyset_cursors_in_both_orders(client, db, alice):
    base = timezone.now() - timedelta(hours=3)
    ids = _rows(60, start=base)
    ids += _rows(5, start=base + timedelta(minutes=5), step=timedelta(0))  # ties across a page boundary
    client.force_login(alice)
    # Equal dates are ordered by id, in the same direction as the dates.
    ties = sorted(ids[60:], key=lambda task_id: TaskResult.objects.get(task_id=task_id).pk)
    for order, expected in (("desc", [*reversed(ties), *reversed(ids[:60])]), ("asc", [*ids[:60], *ties])):
        first = client.get("/dashboard/tasks/", {"sort": "received", "order": order}).content.decode()
        assert _shown(first) == expected[:25]
        assert _link(first, "prev") is None
        second = client.get(_link(first, "next")).content.decode()
        assert _shown(second) == expected[25:50]
        third = client.get(_link(second, "next")).content.decode()
        assert _shown(third) == expected[50:]
        assert _link(third, "next") is None
        back = client.get(_link(third, "prev")).content.decode()
        assert _shown(back) == expected[25:50]
        back_again = client.get(_link(back, "prev")).content.decode()
        assert _shown(back_again) == expected[:25]
        assert _link(back_again, "prev") is None  # the first page again: nothing before it


def test_sort_by_name_and_state_both_ways(client, db, alice):
    base = timezone.now() - timedelta(hours=1)
    beta = _rows(2, start=base, name="app.tasks.beta", status=states.SUCCESS)
    alpha = _rows(2, start=base, name="app.tasks.alpha", status=states.FAILURE)
    client.force_login(alice)
    by_name = _shown(client.get("/dashboard/tasks/", {"sort": "name"}).content.decode())
    assert by_name == alpha + beta  # A to Z, oldest first within a name
    by_name_desc = _shown(client.get("/dashboard/tasks/", {"sort": "name", "order": "desc"}).content.decode())
    assert by_name_desc == list(reversed(beta)) + list(reversed(alpha))
    by_state = _shown(client.get("/dashboard/tasks/", {"sort": "state"}).content.decode())
    assert by_state == alpha + beta  # FAILURE before SUCCESS


def test_damaged_or_foreign_cursors_answer_400_with_a_message(client, db, alice):
    _rows(3, start=timezone.now() - timedelta(hours=1))
    client.force_login(alice)
    received = encode_cursor("received", "desc", "next", (timezone.now(), 5))
    for params in (
        {"cursor": "%%%not-base64"},
        {"cursor": base64.urlsafe_b64encode(b"{not json").decode()},
        {"cursor": base64.urlsafe_b64encode(b'["received","desc","n",["2026-01-01T00:00:00", -1]]').decode()},
        {"cursor": base64.urlsafe_b64encode(b'["received","desc","n",["yesterday", 1]]').decode()},
        {"cursor": base64.urlsafe_b64encode(b'["runtime","desc","n",[1e999, 1]]').decode(), "sort": "runtime"},
        {"cursor": received, "sort": "name"},  # made for another order
        {"cursor": received, "order": "asc"},
    ):
        response = client.get("/dashboard/tasks/", params)
        assert response.status_code == 400, params
        assert "This page link is damaged; start again from the first page." in response.content.decode()


def test_the_export_query_returns_every_row_of_the_filter_in_the_list_order(client, db, alice):
    base = timezone.now() - timedelta(hours=1)
    failed = _rows(30, start=base, name="app.tasks.alpha", status=states.FAILURE)
    _rows(5, start=base, name="app.tasks.alpha", status=states.SUCCESS)
    rows = task_filter_queryset({"q": "state:failure", "order": "asc"})
    assert [row.task_id for row in rows] == failed  # all 30, not one page
    client.force_login(alice)
    page = client.get("/dashboard/tasks/", {"q": "state:failure", "order": "asc"}).content.decode()
    assert _shown(page) == failed[:25]
    for task_id, seconds in zip(failed[:3], (2.0, 9.0, 5.0), strict=True):
        TaskLaunch.objects.create(task_id=task_id, runtime=seconds)
    slowest = task_filter_queryset({"sort": "runtime", "name": "app.tasks.alpha"})
    assert [row.task_id for row in slowest] == [failed[1], failed[2], failed[0]]
    with pytest.raises(TaskFiltersInvalid, match="Unknown field"):
        task_filter_queryset({"q": "colour:red"})


# --- each person's columns and page size ---------------------------------------------------------

def test_columns_and_page_size_are_remembered_per_user_across_log_out(client, db, alice, bob):
    from tests.conftest import make_user

    dora = make_user("dora", staff=True)
    _rows(60, start=timezone.now() - timedelta(hours=1), worker="w9@host")
    client.force_login(alice)
    chosen = client.get("/dashboard/tasks/", {"state": "SUCCESS", "view": "save", "columns": ["worker", "args"],
                                              "size": "50"})
    html = chosen.content.decode()
    assert chosen.status_code == 200 and len(_shown(html)) == 50
    assert 'data-columns="worker args"' in html
    assert "view=save" not in _link(html, "next") and "state=SUCCESS" in _link(html, "next")
    client.logout()
    client.force_login(alice)
    again = client.get("/dashboard/tasks/").content.decode()
    assert 'data-columns="worker args"' in again and len(_shown(again)) == 50
    assert TaskListPreference.objects.get(user=alice).page_size == 50
    client.force_login(dora)  # someone else keeps the defaults
    theirs = client.get("/dashboard/tasks/").content.decode()
    assert 'data-columns=""' in theirs and len(_shown(theirs)) == 25
    refused = client.get("/dashboard/tasks/", {"view": "save", "columns": ["password"], "size": "100000"})
    assert refused.status_code == 200 and not TaskListPreference.objects.filter(user=dora).exists()
    assert "Columns: Select a valid choice. password is not one of the available choices." in refused.content.decode()


@pytest.mark.live
def test_eta_expires_and_retries_are_recorded_from_the_message(live_worker, alice):
    task = demo_job_task.apply_async((1, 0), countdown=3600, expires=7200, queue="nowhere",
                                     headers={"launched_by": alice.pk})
    launch = TaskLaunch.objects.get(task_id=task.id)
    now = timezone.now()
    assert timedelta(minutes=59) < launch.eta - now < timedelta(minutes=61)
    assert timedelta(minutes=119) < launch.expires - now < timedelta(minutes=121)
    assert launch.retries == 0


# --- in the browser ----------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.live
def test_picked_columns_show_on_the_page_and_on_rows_pushed_live(page, live_worker, daphne_server, alice, gate):
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/")
    page.get_by_text("Columns and rows per page").click()
    page.get_by_role("checkbox", name="Worker").check()
    page.get_by_label("Rows per page").select_option("50")
    page.get_by_role("button", name="Show").click()
    table = page.locator("table.tasks")
    expect(table).to_have_attribute("data-columns", "worker")
    expect(page.get_by_role("columnheader", name="Worker")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Arguments")).to_be_hidden()
    expect(page.locator("#task-table.connected")).to_be_visible()
    result = gated_demo_job_task.delay_for(alice, 2, 0, gate_key=gate.key)
    page.get_by_role("link", name="1 new task: show").click()
    row = page.locator(f"#task-row-{result.id}")
    expect(row.locator(".badge")).to_have_text("Running", timeout=WORKER)
    gate.open()
    # The finished row arrives over the socket (rendered once for every watcher, all columns in it):
    # this reader sees the worker column and not the others.
    expect(row.locator(".badge")).to_have_text("Succeeded", timeout=WORKER)
    expect(row.locator(".col-worker")).to_be_visible()
    expect(row.locator(".col-worker")).to_contain_text("@")
    for hidden in ("args", "result", "retries", "eta", "expires"):
        expect(row.locator(f".col-{hidden}")).to_be_hidden()
    assert row.locator(".col-args").count() == 1  # there, only hidden


@pytest.mark.browser
@pytest.mark.live
def test_copy_buttons_put_the_task_id_and_traceback_on_the_clipboard(page, live_worker, daphne_server, alice):
    failed = demo_job_task.delay_for(alice, 1, 0, 1)
    wait_for(lambda: TaskResult.objects.filter(task_id=failed.id, status=states.FAILURE).exists(), timeout=30)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_server.url)
    browser_login(page, daphne_server.url, "alice")
    page.goto(f"{daphne_server.url}/dashboard/tasks/{failed.id}/")
    page.get_by_role("button", name="Copy the task id").click()
    expect(page.get_by_role("button", name="Copy the task id")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == failed.id
    page.get_by_role("button", name="Copy the traceback").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "demo job failed at step 1" in copied and "Traceback" in copied
