"""The JSON API (/api/): every endpoint through real requests, with and without each permission;
tokens (created on the page, stored hashed, revoked); one error shape; the OpenAPI description."""

from __future__ import annotations

import json

import pytest
from celery import states
from django.test import Client, override_settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from openapi_spec_validator import validate

from dashboard.models import ApiToken, DailyReport, ScheduleChange, TaskAction, TaskLaunch
from tests.conftest import PASSWORD, grant, make_user


def token_for(user, name="script") -> str:
    client = Client()
    client.force_login(user)
    page = client.post("/accounts/tokens/", {"name": name, "password": PASSWORD, "expires_in_days": "90"})
    assert page.status_code == 200
    return page.context["created"]["token"]


def api(token: str | None = None) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}") if token else Client()


def task_row(task_id, *, status=states.SUCCESS, name="dashboard.tasks.demo_job_task", launched_by=None, **extra):
    now = timezone.now()
    row = TaskResult.objects.create(task_id=task_id, task_name=name, status=status, date_created=now,
                                    date_done=now, **extra)
    TaskLaunch.objects.create(task_id=task_id, launched_by=launched_by, args=[3, 0], kwargs={}, queue="celery")
    return row


# --- the description ---


def test_openapi_description_is_served_and_valid(db):
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    validate(schema)
    paths = schema["paths"]
    for path in ("/api/tasks/", "/api/tasks/{task_id}/", "/api/tasks/{task_id}/retry/", "/api/tasks/{task_id}/revoke/",
                 "/api/tasks/{task_id}/events/", "/api/tasks/{task_id}/wait/", "/api/workers/", "/api/queues/",
                 "/api/schedules/", "/api/schedules/{periodic_task_id}/run/", "/api/reports/"):
        assert path in paths
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"]}


def test_docs_page_loads_swagger_from_this_site(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html or "?script" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


# --- tokens ---


def test_token_is_shown_once_and_stored_only_as_a_digest(bob):
    token = token_for(bob, "ci job")
    row = ApiToken.objects.get(user=bob)
    assert row.name == "ci job" and token.startswith(f"ldt_{row.prefix}_")
    assert token not in row.digest and len(row.digest) == 64
    client = Client()
    client.force_login(bob)
    listing = client.get("/accounts/tokens/").content.decode()
    assert "ci job" in listing and token not in listing and f"ldt_{row.prefix}_" in listing


def test_token_authenticates_and_records_its_last_use(bob):
    token = token_for(bob)
    response = api(token).get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {"username": "bob", "staff": False, "permissions": [], "token": "script"}
    assert ApiToken.objects.get(user=bob).last_used_at is not None


def test_revoked_token_is_refused_with_401(bob):
    token = token_for(bob)
    client = Client()
    client.force_login(bob)
    row = ApiToken.objects.get(user=bob)
    assert client.post(f"/accounts/tokens/{row.pk}/revoke/").status_code == 302
    response = api(token).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_another_users_token_cannot_be_revoked(bob, charlie):
    token_for(bob)
    row = ApiToken.objects.get(user=bob)
    client = Client()
    client.force_login(charlie)
    client.post(f"/accounts/tokens/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.is_active


def test_token_names_must_be_given_and_unique_among_active_tokens(bob):
    token_for(bob, "deploy")
    client = Client()
    client.force_login(bob)
    duplicate = client.post("/accounts/tokens/", {"name": "deploy", "password": PASSWORD})
    assert duplicate.status_code == 400 and "already have an active token" in duplicate.content.decode()
    assert client.post("/accounts/tokens/", {"name": "  ", "password": PASSWORD}).status_code == 400
    assert ApiToken.objects.filter(user=bob).count() == 1


def test_tokens_page_needs_sign_in(db):
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer ldt_nothere_x", "Bearer not-a-token"])
def test_malformed_or_unknown_tokens_are_401(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get("/api/me/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"status", "code", "message"}


def test_no_credentials_is_401_with_a_challenge(db):
    response = Client().get("/api/tasks/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_session_posts_need_the_csrf_token(alice):
    grant(alice, "dashboard.act_on_tasks")
    task_row("t-csrf", status=states.FAILURE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/tasks/t-csrf/retry/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert not TaskAction.objects.exists()


@override_settings(API_THROTTLE_RATE=(3, 60))
def test_each_token_has_its_own_request_budget(bob, charlie):
    first, second = token_for(bob), token_for(charlie)
    for _ in range(3):
        assert api(first).get("/api/me/").status_code == 200
    refused = api(first).get("/api/me/")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert api(second).get("/api/me/").status_code == 200


# --- tasks ---


def test_task_list_is_for_staff(alice, bob):
    task_row("t-1")
    assert api(token_for(bob)).get("/api/tasks/").status_code == 403
    response = api(token_for(alice)).get("/api/tasks/")
    assert response.status_code == 200
    assert [task["id"] for task in response.json()["results"]] == ["t-1"]


def test_task_list_filters_and_pages_with_cursors(alice):
    for i in range(5):
        task_row(f"t-{i}", status=states.FAILURE if i % 2 else states.SUCCESS)
    client = api(token_for(alice))
    failed = client.get("/api/tasks/", {"state": "FAILURE"}).json()["results"]
    assert sorted(task["id"] for task in failed) == ["t-1", "t-3"]
    seen, cursor = [], None
    while True:
        page = client.get("/api/tasks/", {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        assert len(page["results"]) <= 2
        seen += [task["id"] for task in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"t-{i}" for i in range(5)] and len(seen) == 5


@pytest.mark.parametrize("params, field", [
    ({"state": "EXPLODED"}, "state"),
    ({"cursor": "garbage"}, "cursor"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"colour": "red"}, "colour"),
    ({"date_from": "2026-02-01T00:00", "date_to": "2026-01-01T00:00"}, "date_to"),
])
def test_bad_filters_are_400_naming_the_field(alice, params, field):
    response = api(token_for(alice)).get("/api/tasks/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_task_detail_for_staff_has_arguments_and_traceback(alice):
    task_row("t-x", status=states.FAILURE, traceback="Traceback: boom",
             result=json.dumps({"exc_type": "ValueError", "exc_message": ["boom"]}))
    data = api(token_for(alice)).get("/api/tasks/t-x/").json()
    assert data["state"] == "FAILURE" and data["error"] == "ValueError: boom"
    assert data["traceback"] == "Traceback: boom" and data["args"] == [3, 0]
    assert data["url"] == "/dashboard/tasks/t-x/"


def test_member_sees_own_task_without_internals_and_never_anothers(bob, charlie):
    task_row("bobs", launched_by=bob, traceback="secret frames")
    task_row("charlies", launched_by=charlie)
    client = api(token_for(bob))
    own = client.get("/api/tasks/bobs/")
    assert own.status_code == 200
    assert own.json()["traceback"] == "" and own.json()["args"] is None
    other = client.get("/api/tasks/charlies/")
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


def test_retry_needs_the_permission_and_is_audited(transactional_db):
    alice = make_user("alice", staff=True)
    task_row("t-failed", status=states.FAILURE)
    token = token_for(alice)
    refused = api(token).post("/api/tasks/t-failed/retry/")
    assert refused.status_code == 403
    assert "Can retry, revoke and terminate" in refused.json()["error"]["message"]
    grant(alice, "dashboard.act_on_tasks")
    response = api(token).post("/api/tasks/t-failed/retry/")
    assert response.status_code == 202
    new_id = response.json()["task_id"]
    action = TaskAction.objects.get(task_id="t-failed")
    assert (action.kind, action.user, action.new_task_id) == ("retry", alice, new_id)
    again = api(token).post("/api/tasks/t-failed/retry/")
    assert again.status_code == 409 and "Already retried" in again.json()["error"]["message"]


def test_revoke_queued_and_refuse_finished(alice):
    grant(alice, "dashboard.act_on_tasks")
    task_row("t-queued", status=states.PENDING)
    task_row("t-done", status=states.SUCCESS)
    client = api(token_for(alice))
    assert client.post("/api/tasks/t-queued/revoke/", {}, content_type="application/json").status_code == 200
    assert TaskResult.objects.get(task_id="t-queued").status == states.REVOKED
    assert TaskAction.objects.get(task_id="t-queued").kind == "revoke"
    finished = client.post("/api/tasks/t-done/revoke/", {}, content_type="application/json")
    assert finished.status_code == 409
    bad = client.post("/api/tasks/t-queued/revoke/", {"signal": "SIGBOGUS"}, content_type="application/json")
    assert bad.status_code == 400 and "signal" in bad.json()["error"]["fields"]


def test_actions_on_unknown_tasks_are_404(alice):
    grant(alice, "dashboard.act_on_tasks")
    assert api(token_for(alice)).post("/api/tasks/nope/retry/").status_code == 404


def test_non_json_body_is_415(alice):
    grant(alice, "dashboard.act_on_tasks")
    task_row("t-q", status=states.PENDING)
    response = api(token_for(alice)).post("/api/tasks/t-q/revoke/", "terminate=1",
                                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"


# --- schedules ---


def make_schedule(name="every-minute"):
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name=name, task="dashboard.tasks.daily_report_task", interval=every)


def test_schedules_list_and_enable_disable_with_permission(alice):
    pt = make_schedule()
    token = token_for(alice)
    names = [row["name"] for row in api(token).get("/api/schedules/").json()]
    assert "every-minute" in names
    refused = api(token).post(f"/api/schedules/{pt.pk}/disable/")
    assert refused.status_code == 403 and "Can change periodic task" in refused.json()["error"]["message"]
    grant(alice, "django_celery_beat.change_periodictask")
    assert api(token).post(f"/api/schedules/{pt.pk}/disable/").json() == {"ok": True, "detail": "Disabled."}
    assert api(token).post(f"/api/schedules/{pt.pk}/disable/").json() == {"ok": True, "detail": "Already disabled."}
    pt.refresh_from_db()
    assert not pt.enabled
    assert list(ScheduleChange.objects.values_list("action", "changed_by")) == [("disabled", alice.pk)]
    assert api(token).post("/api/schedules/999999/enable/").status_code == 404


def test_schedule_run_now_queues_the_task_and_is_audited(transactional_db):
    alice = make_user("alice", staff=True)
    grant(alice, "django_celery_beat.change_periodictask")
    pt = make_schedule()
    response = api(token_for(alice)).post(f"/api/schedules/{pt.pk}/run/")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert TaskResult.objects.get(task_id=task_id).periodic_task_name == "every-minute"
    assert ScheduleChange.objects.get(action="run_now").changed_by == alice


# --- reports, workers, queues ---


def test_reports_list_and_day(alice, bob):
    DailyReport.objects.create(day="2026-11-30", tasks_total=7, tasks_failed=1)
    client = api(token_for(alice))
    assert [r["tasks_total"] for r in client.get("/api/reports/").json()] == [7]
    assert client.get("/api/reports/2026-11-30/").json()["tasks_failed"] == 1
    assert client.get("/api/reports/2026-11-29/").status_code == 404
    assert client.get("/api/reports/2026-13-01/").json()["error"]["fields"] == {"day": ["A date as YYYY-MM-DD."]}
    assert client.get("/api/reports/", {"limit": "0"}).status_code == 400
    assert api(token_for(bob)).get("/api/reports/").status_code == 403


def test_workers_and_queues_are_for_staff(alice, bob):
    member = api(token_for(bob))
    assert member.get("/api/workers/").status_code == 403
    assert member.get("/api/queues/").status_code == 403
    staff = api(token_for(alice))
    workers = staff.get("/api/workers/")
    assert workers.status_code == 200 and isinstance(workers.json(), list)
    queues = staff.get("/api/queues/")
    assert queues.status_code == 200
    assert "celery" in [queue["name"] for queue in queues.json()]


def test_task_list_pages_back_and_takes_the_search_syntax(alice):
    for i in range(5):
        task_row(f"t-{i}", status=states.FAILURE if i % 2 else states.SUCCESS)
    client = api(token_for(alice))
    first = client.get("/api/tasks/", {"limit": 2}).json()
    assert first["previous_cursor"] is None
    second = client.get("/api/tasks/", {"limit": 2, "cursor": first["next_cursor"]}).json()
    back = client.get("/api/tasks/", {"limit": 2, "cursor": second["previous_cursor"]}).json()
    assert [t["id"] for t in back["results"]] == [t["id"] for t in first["results"]]
    searched = client.get("/api/tasks/", {"q": "state:failure"}).json()["results"]
    assert sorted(t["id"] for t in searched) == ["t-1", "t-3"]
    bad = client.get("/api/tasks/", {"q": "colour:red"})
    assert bad.status_code == 400 and "q" in bad.json()["error"]["fields"]


# --- run, cancel ---


def test_run_a_task_needs_the_permission_checks_the_signature_and_records_the_launcher(transactional_db):
    from dashboard.models import ControlAction

    alice = make_user("alice", staff=True)
    token = token_for(alice)
    body = {"task": "dashboard.tasks.demo_job_task", "args": [2, 0]}
    refused = api(token).post("/api/tasks/", body, content_type="application/json")
    assert refused.status_code == 403 and "Can run any registered task" in refused.json()["error"]["message"]
    grant(alice, "dashboard.run_task")
    wrong = api(token).post("/api/tasks/", {**body, "kwargs": {"colour": "red"}}, content_type="application/json")
    assert wrong.status_code == 400 and "unexpected keyword argument 'colour'" in str(wrong.json()["error"]["fields"])
    no_queue = api(token).post("/api/tasks/", {**body, "queue": "nowhere"}, content_type="application/json")
    assert no_queue.status_code == 400 and "queue" in no_queue.json()["error"]["fields"]
    unknown = api(token).post("/api/tasks/", {"task": "celery.backend_cleanup"}, content_type="application/json")
    assert unknown.status_code == 400 and "task" in unknown.json()["error"]["fields"]
    response = api(token).post("/api/tasks/", body, content_type="application/json")
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert TaskLaunch.objects.get(task_id=task_id).launched_by == alice
    assert ControlAction.objects.get(kind="run_task").user == alice
    names = [entry["name"] for entry in api(token).get("/api/tasks/registered/").json()]
    assert "dashboard.tasks.demo_job_task" in names and not any(name.startswith("celery.") for name in names)


def test_members_cancel_their_own_queued_job_and_nobody_elses(bob, charlie):
    task_row("bobs-job", status=states.PENDING, launched_by=bob)
    assert api(token_for(charlie)).post("/api/tasks/bobs-job/cancel/").status_code == 404
    response = api(token_for(bob)).post("/api/tasks/bobs-job/cancel/")
    assert response.status_code == 200 and response.json()["detail"] == "Revoked: it will not run."
    assert TaskResult.objects.get(task_id="bobs-job").status == states.REVOKED
    assert TaskAction.objects.get(task_id="bobs-job").kind == "cancel"
    again = api(token_for(bob, "second")).post("/api/tasks/bobs-job/cancel/")
    assert again.status_code == 409


def test_staff_cancel_needs_the_task_action_permission(alice, bob):
    task_row("bobs-job", status=states.PENDING, launched_by=bob)
    token = token_for(alice)
    assert api(token).post("/api/tasks/bobs-job/cancel/").status_code == 403
    grant(alice, "dashboard.act_on_tasks")
    assert api(token).post("/api/tasks/bobs-job/cancel/").status_code == 200


def test_demo_job_endpoint_needs_its_permission_and_checks_the_form(transactional_db):
    alice = make_user("alice", staff=True)
    token = token_for(alice)
    assert api(token).post("/api/demo-jobs/", {"steps": 2, "delay_ms": 0}, content_type="application/json").status_code == 403
    grant(alice, "dashboard.start_demo_job")
    bad = api(token).post("/api/demo-jobs/", {"steps": 0, "delay_ms": "soon"}, content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"steps", "delay_ms"}
    # Found by schemathesis against /api/schema/: an object where a number belongs was taken as "none".
    typed = api(token).post("/api/demo-jobs/", {"steps": 1, "delay_ms": 0, "fail_at_step": {}}, content_type="application/json")
    assert typed.status_code == 400 and "fail_at_step" in typed.json()["error"]["fields"]
    too_long = api(token).post("/api/demo-jobs/", {"steps": 583, "delay_ms": 4334}, content_type="application/json")
    assert too_long.status_code == 400 and "keep it under" in too_long.json()["error"]["message"]
    started = api(token).post("/api/demo-jobs/", {"steps": 2, "delay_ms": 0}, content_type="application/json")
    assert started.status_code == 202
    assert TaskLaunch.objects.get(task_id=started.json()["task_id"]).launched_by == alice


def test_registered_tasks_are_for_staff(alice, bob):
    assert api(token_for(bob)).get("/api/tasks/registered/").status_code == 403
    assert api(token_for(alice)).get("/api/tasks/registered/").status_code == 200
