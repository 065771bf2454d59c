"""The API's endpoints. Each one calls the same services and checks the same permissions as the
page that does the same thing, so a token can do exactly what its owner can do in the browser, and
every change writes the same audit rows (TaskAction, ScheduleChange).

Looking at tasks, workers, queues, schedules and reports is for active staff (as the dashboard);
a member may read, follow and cancel only the tasks they launched (404 for any other, as the pages).
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from kombu.exceptions import OperationalError
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from dashboard.api import serializers as s
from dashboard.api.errors import Conflict, Unavailable
from dashboard.models import DailyReport, TaskAction, TaskEvent, TaskLaunch
from dashboard.monitor.access import get_task_for_user
from dashboard.monitor.actions import TaskActionRefused, task_retry, task_revoke
from dashboard.monitor.filters import TaskFilterForm, tasks_page
from dashboard.monitor.listing import task_views
from dashboard.permissions import ACT_ON_TASKS, CHANGE_SCHEDULES, NEEDS, may, needs
from site_config.machinery.staff import is_active_staff

ERRORS = {
    400: OpenApiResponse(description="A field or query parameter is not valid; `error.fields` names it."),
    401: OpenApiResponse(description="No credentials, or a token that is not valid."),
    403: OpenApiResponse(description="Signed in, without the permission the action needs; the message names it."),
    404: OpenApiResponse(description="No such object, or not yours to see."),
    429: OpenApiResponse(description="Over the token's request budget; `Retry-After` says when to try again."),
}


def _require_staff(request) -> None:
    if not is_active_staff(request.user):
        raise PermissionDenied(gettext("This needs a staff account."))


def _require(request, permission: str) -> None:
    if not may(request.user, permission):
        raise PermissionDenied(needs(permission))


def _task_or_404(request, task_id: str):
    try:
        return get_task_for_user(request.user, task_id)
    except Http404:
        raise NotFound(gettext("No such task.")) from None


def _form_invalid(form) -> ValidationError:
    """A Django form's errors as the API's 400: field errors by field, the form's own as the message."""
    errors = {field: [str(e) for e in messages] for field, messages in form.errors.items() if field != "__all__"}
    if "__all__" in form.errors:
        errors["non_field_errors"] = [str(e) for e in form.errors["__all__"]]
    return ValidationError(errors)


def _new_task(task_id: str, status: int = 202) -> Response:
    return Response({"task_id": task_id, "url": reverse("dashboard:task_detail", kwargs={"task_id": task_id})},
                    status=status)


# --- tasks ---


@extend_schema(methods=["GET"], operation_id="tasks_list", parameters=[s.TaskListQuerySerializer], responses={200: s.TaskPageSerializer, **ERRORS},
               summary="List tasks", description="The task list's filters, search syntax and order, one page "
               "at a time: pass `next_cursor` (or `previous_cursor`) back as `cursor` for the next (previous) page.")
@extend_schema(methods=["POST"], operation_id="tasks_run", request=s.RunTaskSerializer, responses={
               202: s.NewTaskSerializer, 503: OpenApiResponse(description="The broker cannot be reached."), **ERRORS},
               summary="Run a task",
               description="One of the project's registered tasks (GET /api/tasks/registered/ lists them with their "
               "signatures), with JSON arguments checked against its signature. Needs “Can run any registered task "
               "with chosen arguments”. Audited; the task is recorded as launched by you.")
@api_view(["GET", "POST"])
def task_collection(request):
    """GET lists tasks; POST runs one."""
    return _task_run(request) if request.method == "POST" else _task_list(request)


def _task_list(request):
    _require_staff(request)
    limit = s.TaskListQuerySerializer(data={"limit": request.query_params.get("limit", 25)})
    if not limit.is_valid():
        raise ValidationError({"limit": limit.errors["limit"]})
    known = set(TaskFilterForm.base_fields) | {"limit"}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ValidationError({name: [gettext("Not a filter of the task list.")] for name in unknown})
    form = TaskFilterForm(request.query_params)
    if not form.is_valid():
        raise _form_invalid(form)
    page = tasks_page(form.cleaned_data, size=limit.validated_data["limit"])
    return Response({"results": s.TaskSerializer(task_views(page.rows), many=True).data,
                     "next_cursor": page.next_cursor, "previous_cursor": page.previous_cursor})


@extend_schema(responses={200: s.TaskDetailSerializer, **ERRORS}, summary="One task",
               description="State, progress and timeline. Staff also get arguments, traceback and actions.")
@api_view(["GET"])
def task_detail(request, task_id: str):
    view = _task_or_404(request, task_id)
    staff = is_active_staff(request.user)
    launch = TaskLaunch.objects.filter(task_id=task_id).first()
    data = s.TaskSerializer(view).data
    data.update(
        traceback=view.traceback if staff else "",
        args=launch.args if staff and launch else None,
        kwargs=launch.kwargs if staff and launch else None,
        queue=launch.queue if launch else "",
        timeline=s.TaskEventSerializer(TaskEvent.objects.filter(task_id=task_id), many=True).data,
        actions=s.TaskActionSerializer(TaskAction.objects.filter(task_id=task_id).select_related("user"),
                                       many=True).data if staff else [],
    )
    return Response(data)


@extend_schema(request=None, responses={202: s.NewTaskSerializer, 409: OpenApiResponse(description="Not retryable."),
                                        503: OpenApiResponse(description="The broker cannot be reached."), **ERRORS},
               summary="Retry a failed or revoked task",
               description="Sends the same task with the same arguments as a new task, linked to the original. "
               "Needs “Can retry, revoke and terminate tasks from the dashboard”. Audited.")
@api_view(["POST"])
def task_retry_view(request, task_id: str):
    _require(request, ACT_ON_TASKS)
    _task_or_404(request, task_id)
    try:
        new_id = task_retry(user=request.user, task_id=task_id)
    except TaskActionRefused as refusal:
        raise Conflict(str(refusal)) from None
    except OperationalError:
        raise Unavailable() from None
    return _new_task(new_id)


@extend_schema(request=s.RevokeSerializer, responses={200: s.OkSerializer, 409: OpenApiResponse(description="Not revocable."), **ERRORS},
               summary="Revoke a queued task, or terminate a running one",
               description="Needs “Can retry, revoke and terminate tasks from the dashboard”. Audited.")
@api_view(["POST"])
def task_revoke_view(request, task_id: str):
    _require(request, ACT_ON_TASKS)
    _task_or_404(request, task_id)
    body = s.RevokeSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    terminate, signal = body.validated_data["terminate"], body.validated_data["signal"]
    try:
        task_revoke(user=request.user, task_id=task_id, terminate=terminate, signal=signal)
    except TaskActionRefused as refusal:
        raise Conflict(str(refusal)) from None
    return Response({"ok": True, "detail": gettext("Terminated with %(signal)s.") % {"signal": signal} if terminate
                     else gettext("Revoked: it will not run.")})


@extend_schema(request=None, responses={200: s.OkSerializer, 409: OpenApiResponse(description="It has finished, or "
               "was cancelled already."), **ERRORS}, summary="Cancel a job",
               description="For the member who launched it, or staff with “Can retry, revoke and terminate tasks "
               "from the dashboard”. A queued job is revoked at once; a running one stops at its next progress "
               "report and ends REVOKED “cancelled by <you>”. Audited.")
@api_view(["POST"])
def task_cancel_view(request, task_id: str):
    from dashboard.jobs.services import CancelRefused, ensure_may_cancel, task_cancel

    try:
        ensure_may_cancel(request.user, task_id)
    except Http404:
        raise NotFound(gettext("No such task.")) from None
    try:
        outcome = task_cancel(user=request.user, task_id=task_id)
    except CancelRefused as refusal:
        raise Conflict(str(refusal)) from None
    return Response({"ok": True, "detail": gettext("Revoked: it will not run.") if outcome == "revoked"
                     else gettext("Cancel requested: it stops at its next progress report.")})


def _task_run(request):
    from dashboard.permissions import RUN_TASK
    from dashboard.workers.forms import RunTaskForm
    from dashboard.workers.launch import task_run

    _require(request, RUN_TASK)
    body = s.RunTaskSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    form = RunTaskForm({"task": data["task"], "args": json.dumps(data.get("args", [])),
                        "kwargs": json.dumps(data.get("kwargs", {})), "queue": data.get("queue", ""),
                        "eta": data["eta"].isoformat() if data.get("eta") else "",
                        "countdown": "" if data.get("countdown") is None else data["countdown"]})
    if not form.is_valid():
        raise _form_invalid(form)
    clean = form.cleaned_data
    try:
        task_id = task_run(user=request.user, name=clean["task"], args=clean["args"], kwargs=clean["kwargs"],
                           queue=clean["queue"], eta=clean["eta"], countdown=clean["countdown"])
    except OperationalError:
        raise Unavailable() from None
    return _new_task(task_id)


@extend_schema(responses={200: inline_serializer("RegisteredTask", {"name": serializers.CharField(),
               "signature": serializers.CharField(), "accepts": serializers.CharField()}, many=True), **ERRORS}, summary="Tasks that can be run")
@api_view(["GET"])
def task_registered(request):
    from dashboard.workers.launch import task_signatures

    _require_staff(request)
    return Response([{"name": name, "signature": signature, "accepts": accepts}
                     for name, signature, accepts in task_signatures()])


# --- workers and queues ---


def _worker_json(worker: dict) -> dict:
    return {
        "hostname": worker["hostname"],
        "online": bool(worker.get("online")),
        "pool": worker.get("pool"),
        "concurrency": worker.get("concurrency"),
        "processed": worker.get("processed"),
        "uptime": worker.get("uptime"),
        "loadavg": worker.get("loadavg"),
        "prefetch_count": worker.get("prefetch_count"),
        "last_seen": worker.get("last_seen"),
        "queues": [queue["name"] for queue in worker.get("queues") or []],
        "active": [{"id": task.get("id"), "name": task.get("name")} for task in worker.get("active") or []],
    }


@extend_schema(responses={200: s.WorkerSerializer(many=True), **ERRORS}, summary="Workers",
               description="Every worker seen in the last day, as the workers page shows them (collected at most "
               "once per poll interval, whoever asks).")
@api_view(["GET"])
def worker_list(request):
    from dashboard.workers.services import workers_snapshot

    _require_staff(request)
    snapshot = workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL)
    return Response(s.WorkerSerializer([_worker_json(w) for w in snapshot["workers"]], many=True).data)


@extend_schema(responses={200: s.QueueSerializer(many=True), 503: OpenApiResponse(description="The broker's queue "
               "lengths cannot be read."), **ERRORS}, summary="Queues", description="Messages waiting per queue.")
@api_view(["GET"])
def queue_list(request):
    from dashboard.workers.services import workers_context, workers_snapshot

    _require_staff(request)
    context = workers_context(workers_snapshot(max_age=settings.WORKERS_POLL_INTERVAL))
    if context["snapshot"]["queues"] is None:
        raise Unavailable(gettext("Queue lengths cannot be read from this broker right now."))
    return Response(s.QueueSerializer(context["queues"], many=True).data)


# --- schedules ---


@extend_schema(responses={200: s.ScheduleSerializer(many=True), **ERRORS}, summary="Periodic schedules")
@api_view(["GET"])
def schedule_list(request):
    from dashboard.schedules.services import schedule_rows

    _require_staff(request)
    return Response(s.ScheduleSerializer(schedule_rows(), many=True).data)


def _schedule_or_404(periodic_task_id: int):
    from django_celery_beat.models import PeriodicTask

    periodic_task = PeriodicTask.objects.filter(pk=periodic_task_id).first()
    if periodic_task is None:
        raise NotFound(gettext("No such schedule."))
    return periodic_task


@extend_schema(request=None, responses={200: s.OkSerializer, **ERRORS}, summary="Enable a schedule",
               description="Needs “Can change periodic task”. Audited; enabling an enabled schedule records nothing.")
@api_view(["POST"])
def schedule_enable(request, periodic_task_id: int):
    return _set_enabled(request, periodic_task_id, True)


@extend_schema(request=None, responses={200: s.OkSerializer, **ERRORS}, summary="Disable a schedule",
               description="Needs “Can change periodic task”. Audited.")
@api_view(["POST"])
def schedule_disable(request, periodic_task_id: int):
    return _set_enabled(request, periodic_task_id, False)


def _set_enabled(request, periodic_task_id: int, enabled: bool) -> Response:
    from dashboard.schedules.services import schedule_set_enabled

    _require(request, CHANGE_SCHEDULES)
    _schedule_or_404(periodic_task_id)
    changed = schedule_set_enabled(periodic_task_id=periodic_task_id, enabled=enabled, user=request.user)
    if enabled:
        detail = gettext("Enabled.") if changed else gettext("Already enabled.")
    else:
        detail = gettext("Disabled.") if changed else gettext("Already disabled.")
    return Response({"ok": True, "detail": detail})


@extend_schema(request=None, responses={202: s.NewTaskSerializer, 409: OpenApiResponse(description="The schedule's task "
               "is not registered."), 503: OpenApiResponse(description="The broker cannot be reached."), **ERRORS},
               summary="Run a schedule's task now", description="Needs “Can change periodic task”. Audited.")
@api_view(["POST"])
def schedule_run(request, periodic_task_id: int):
    from dashboard.schedules.services import ScheduleRefused, UnknownTask, schedule_run_now

    _require(request, CHANGE_SCHEDULES)
    _schedule_or_404(periodic_task_id)
    try:
        task_id = schedule_run_now(periodic_task_id=periodic_task_id, user=request.user)
    except (UnknownTask, ScheduleRefused) as error:
        raise Conflict(str(error)) from None
    except OperationalError:
        raise Unavailable() from None
    return _new_task(task_id)


# --- reports ---


@extend_schema(parameters=[OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": 366, "default": 30},
                                             description="How many days, newest first.")],
               responses={200: s.ReportSerializer(many=True), **ERRORS}, summary="Daily reports")
@api_view(["GET"])
def report_list(request):
    _require_staff(request)
    raw = request.query_params.get("limit", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= 366:
        raise ValidationError({"limit": [gettext("A whole number from 1 to 366.")]})
    return Response(s.ReportSerializer(DailyReport.objects.order_by("-day")[: int(raw)], many=True).data)


@extend_schema(parameters=[OpenApiParameter("day", OpenApiTypes.DATE, OpenApiParameter.PATH)],
               responses={200: s.ReportSerializer, **ERRORS}, summary="One day's report")
@api_view(["GET"])
def report_detail(request, day: str):
    from datetime import date

    _require_staff(request)
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise ValidationError({"day": [gettext("A date as YYYY-MM-DD.")]}) from None
    report = DailyReport.objects.filter(day=parsed).first()
    if report is None:
        raise NotFound(gettext("No report for that day."))
    return Response(s.ReportSerializer(report).data)


# --- who am I (for scripts checking their token) ---


@extend_schema(responses={200: inline_serializer("Me", {
    "username": serializers.CharField(), "staff": serializers.BooleanField(),
    "permissions": serializers.ListField(child=serializers.CharField()),
    "token": serializers.CharField(allow_null=True, help_text="The name of the token used, if any.")}), **ERRORS},
    summary="The caller")
@api_view(["GET"])
def me(request):
    from dashboard.models import ApiToken

    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied(gettext("Not signed in."))
    return Response({
        "username": user.get_username(),
        "staff": is_active_staff(user),
        "permissions": sorted(name for name in NEEDS if may(user, name)),
        "token": request.auth.name if isinstance(request.auth, ApiToken) else None,
    })


# --- the demo job (the same form and permission as the dashboard's home page) ---


@extend_schema(request=s.DemoJobSerializer, responses={202: s.NewTaskSerializer, 503: OpenApiResponse(description="The broker cannot be reached."), **ERRORS},
    summary="Start the demo job", description="Needs “Can start the demo job”. Follow it with /events/ or /wait/.")
@api_view(["POST"])
def demo_job_start(request):
    from dashboard.home.forms import DemoJobForm
    from dashboard.permissions import START_DEMO_JOB
    from dashboard.tasks import demo_job_task

    _require(request, START_DEMO_JOB)
    body = s.DemoJobSerializer(data=request.data)  # the JSON types first; then the page's own form (limits)
    body.is_valid(raise_exception=True)
    form = DemoJobForm({key: ("" if value is None else value) for key, value in body.validated_data.items()})
    if not form.is_valid():
        raise _form_invalid(form)
    data = form.cleaned_data
    try:
        result = demo_job_task.delay_for(request.user, data["steps"], data["delay_ms"], data["fail_at_step"])
    except OperationalError:
        raise Unavailable() from None
    return _new_task(result.id)
