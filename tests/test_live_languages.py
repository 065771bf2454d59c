"""The site in two languages on its live pages: texts stored as identifiers and shown in the
reader's language, tasks named by their titles, and pushed HTML rendered once per language watched."""

from __future__ import annotations

import json

import pytest
from django.utils import translation

from dashboard.live.languages import mark_seconds, watched_languages
from dashboard.live.state import TaskView, task_title
from site_config.machinery.stored_texts import shown, stored_text
from site_config.ops.metrics import LIVE_RENDERS, label_field, recorder, redis_client
from tests.conftest import session_cookie
from tests.livetools import ParkedQueue, collect_until_final, recv_until_state, state_of, wait_for, ws_connect
from tests.worker_tasks import gated_demo_job_task

ZH_STEP_1 = "第 1 步，共 4 步"


def test_a_stored_text_reads_whole_in_either_language():
    reason = stored_text("error.revoked", reason=stored_text("reason.cancelled_by", user="bob"))
    json.loads(reason)  # JSON in a string: fits a text column and Celery's JSON messages
    with translation.override("en"):
        assert shown(reason) == "Revoked: cancelled by bob."
        assert shown(stored_text("export.rows", written=12345, total=20000)) == "12,345 of 20,000 rows"
    with translation.override("zh-hant"):
        assert shown(reason) == "已撤銷：由 bob 取消。"
        assert shown(stored_text("demo.step", step=1, steps=4)) == ZH_STEP_1


def test_plain_and_unknown_stored_texts_are_shown_as_they_are():
    assert shown("cancelled by bob") == "cancelled by bob"  # a row written before texts had identifiers
    assert shown('{"text": "no.such.text", "params": {"n": 3}}') == "no.such.text n=3"
    with pytest.raises(KeyError):
        stored_text("no.such.text")


def test_task_views_show_their_title_and_message_in_the_active_language():
    view = TaskView(task_id="t1", name="dashboard.tasks.demo_job_task", state="PROGRESS", current=1, total=4,
                    message_stored=stored_text("demo.step", step=1, steps=4))
    with translation.override("zh-hant"):
        assert (view.title, view.message) == ("示範工作", ZH_STEP_1)
    with translation.override("en"):
        assert (view.title, view.message) == ("Demo job", "step 1 of 4")
    assert task_title("celery.backend_cleanup") == "celery.backend_cleanup"  # another package's task


def test_members_see_titles_and_staff_see_the_python_name_beside_them(client, alice, bob):
    from dashboard.live.store import record_event, record_queued

    task_id = "5d0c4a70-0000-4000-8000-000000000031"
    record_queued(task_id=task_id, task_name="dashboard.tasks.demo_job_task", argsrepr="(3, 0)", kwargsrepr="{}",
                  periodic_task_name=None, launched_by=bob.pk, queue="celery")
    record_event(task_id, "cancel", stored_text("event.cancel_requested", user="bob"))

    client.force_login(bob)
    mine = client.get("/dashboard/my-tasks/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "示範工作" in mine and "dashboard.tasks.demo_job_task" not in mine

    client.force_login(alice)
    row = client.get("/dashboard/tasks/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Demo job" in row and 'class="task-python-name">dashboard.<wbr>tasks.<wbr>demo_<wbr>job_<wbr>task<' in row
    page = client.get(f"/dashboard/tasks/{task_id}/", HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "示範工作" in page and "task-python-name" in page
    assert "由 bob 要求；於下次回報進度時停止" in page  # the timeline's stored text, in the page's language
    assert "已要求取消" in page  # and its kind


def _renders() -> dict[str, int]:
    raw = redis_client().hgetall(LIVE_RENDERS.key)
    return {language: int(raw.get(label_field((language,)).encode(), 0)) for language in ("en", "zh-hant")}


def test_each_watcher_gets_the_pushed_fragment_in_its_own_language(live_worker, daphne_server, alice, gate):
    cookie = session_cookie(alice)
    parked = ParkedQueue()
    result = gated_demo_job_task.apply_async((4, 0), {"gate_key": gate.key}, queue=parked.name,
                                             headers={"launched_by": alice.pk})
    try:
        with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie) as english, \
                ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie, language="zh-TW") as chinese:
            assert state_of(english.recv(timeout=5)) == state_of(chinese.recv(timeout=5)) == "PENDING"
            parked.start_consuming()
            recv_until_state(english, "STARTED")
            recv_until_state(chinese, "STARTED")
            gate.open_to(1)
            english_step, chinese_step = english.recv(timeout=10), chinese.recv(timeout=10)
            gate.open()
            collect_until_final(english)
            collect_until_final(chinese)
    finally:
        parked.stop_consuming()
    assert "step 1 of 4" in english_step and ZH_STEP_1 not in english_step
    assert ZH_STEP_1 in chinese_step and "step 1 of 4" not in chinese_step


def test_with_watchers_in_one_language_each_update_is_rendered_once(live_worker, daphne_server, alice, gate):
    cookie = session_cookie(alice)
    parked = ParkedQueue()
    result = gated_demo_job_task.apply_async((4, 0), {"gate_key": gate.key}, queue=parked.name,
                                             headers={"launched_by": alice.pk})
    try:
        with ws_connect(daphne_server, f"/ws/tasks/{result.id}/", cookie, language="zh-TW") as chinese:
            assert state_of(chinese.recv(timeout=5)) == "PENDING"
            assert "zh-hant" in watched_languages()  # recorded by daphne before the snapshot was sent
            # English pages of earlier tests are closed: their record lapses within its expiry.
            wait_for(lambda: watched_languages() == ["zh-hant"], timeout=mark_seconds() + 10)
            recorder.flush()  # this process's own renders (the "queued" push) counted before the baseline
            before = _renders()
            parked.start_consuming()
            gate.open_to(1)  # step 1 is pushed before the job goes on (a loaded machine coalesces quick steps)
            pushed = []
            while ZH_STEP_1 not in "".join(pushed):
                pushed.append(chinese.recv(timeout=30))
            gate.open()
            pushed += collect_until_final(chinese)
    finally:
        parked.stop_consuming()
    # The worker's renders arrive in one flush; once the Chinese ones are counted, so would English ones be.
    after = wait_for(lambda: (counts := _renders())["zh-hant"] - before["zh-hant"] >= len(pushed) and counts)
    assert after["en"] == before["en"], "an update was rendered in a language nobody watched"
