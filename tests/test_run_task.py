"""Running a registered task from /dashboard/workers/run/: the form's checks, the permission, and a real
run that lands on the task's live page, recorded as launched by the person who ran it."""

from __future__ import annotations

import json
from html import unescape

from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.models import ControlAction, TaskLaunch
from tests.conftest import grant, make_user
from tests.livetools import wait_for

URL = "/dashboard/workers/run/"
DEMO = "dashboard.tasks.demo_job_task"


def runner():
    return grant(make_user("rita", staff=True), "dashboard.run_task")


def post(client, **fields):
    data = {"task": DEMO, "args": "[]", "kwargs": "{}", "queue": "", "eta": "", "countdown": ""}
    data.update(fields)
    return client.post(URL, data)


def test_the_form_offers_the_projects_tasks_and_never_celerys_own(client, db):
    client.force_login(runner())
    html = client.get(URL).content.decode()
    assert f'<option value="{DEMO}">' in html
    assert '<option value="blog.tasks.email_send_task">' in html
    assert 'value="celery.' not in html
    assert '<option value="email">email</option>' in html  # the configured queues


def test_bad_json_is_a_field_error_and_nothing_is_sent(client, db):
    client.force_login(runner())
    response = post(client, args="[1, 2")
    assert response.status_code == 400
    assert "Not valid JSON" in response.content.decode()
    response = post(client, kwargs="[1]")
    assert response.status_code == 400 and "Must be a JSON object" in response.content.decode()
    assert not ControlAction.objects.exists() and not TaskLaunch.objects.exists()


def test_arguments_that_do_not_fit_the_signature_are_a_field_error(client, db):
    client.force_login(runner())
    response = post(client, args="[1, 2, 3, 4, 5, 6, 7]")
    assert response.status_code == 400
    assert f"{DEMO} does not take these arguments: too many positional arguments" in unescape(response.content.decode())
    response = post(client, kwargs=json.dumps({"steps": 1, "delay_ms": 0, "speed": 3}))
    assert response.status_code == 400
    assert "got an unexpected keyword argument &#x27;speed&#x27;" in response.content.decode()
    response = post(client, args="[]")  # steps and delay_ms are required
    assert response.status_code == 400 and "missing a required argument" in unescape(response.content.decode())
    assert not ControlAction.objects.exists() and not TaskLaunch.objects.exists()


def test_eta_in_the_past_and_eta_with_countdown_are_refused(client, db):
    client.force_login(runner())
    past = (timezone.localtime() - timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "The ETA is in the past" in post(client, args="[1, 0]", eta=past).content.decode()
    future = (timezone.localtime() + timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = post(client, args="[1, 0]", eta=future, countdown="5")
    assert response.status_code == 400 and "not both" in response.content.decode()


def test_staff_without_the_permission_get_403_and_members_are_sent_away(client, db, alice, bob):
    client.force_login(alice)
    assert client.get(URL).status_code == 403
    assert post(client, args="[1, 0]").status_code == 403
    assert "Running a task needs the permission" in client.get("/dashboard/workers/").content.decode()
    client.force_login(bob)
    assert post(client, args="[1, 0]").status_code == 302
    assert not ControlAction.objects.exists() and not TaskLaunch.objects.exists()


def test_a_run_lands_on_its_live_page_and_succeeds_as_launched_by_the_runner(live_worker, client):
    user = runner()
    client.force_login(user)
    response = post(client, args="[2, 0]", kwargs='{"fail_at_step": null}', queue="celery")
    assert response.status_code == 302
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert response["Location"] == f"/dashboard/tasks/{task_id}/"
    launch = TaskLaunch.objects.get(task_id=task_id)
    assert launch.launched_by == user and launch.args == [2, 0] and launch.queue == "celery"
    audit = ControlAction.objects.get(kind="run_task")
    assert audit.user == user and audit.replies == {"task_id": task_id}
    assert audit.arguments["task"] == DEMO and audit.arguments["kwargs"] == {"fail_at_step": None}
    wait_for(lambda: TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists(), timeout=30)
    page = client.get(response["Location"]).content.decode()
    assert 'ws-connect="/ws/tasks/' in page and 'data-state="SUCCESS"' in page


def test_a_countdown_holds_the_task_as_scheduled_on_the_worker(live_worker, client):
    client.force_login(runner())
    response = post(client, args="[1, 0]", countdown="300")
    task_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    html = wait_for(lambda: (page := client.get("/dashboard/workers/").content.decode())
                    and f'class="scheduled-task" data-task-id="{task_id}"' in page and page, timeout=30, interval=0.5)
    assert DEMO in html
    from site_config.celery import app

    app.control.revoke(task_id)  # it would otherwise run in five minutes, in some later test
