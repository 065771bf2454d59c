"""Task monitor pages: the filtered list, one task's page, and the actions on tasks.

Looking is for staff (and a member may open a task they launched); acting needs the
`dashboard.act_on_tasks` permission, checked here on every POST, and is audited by
dashboard.monitor.actions.
"""

from __future__ import annotations

import json

from celery import states
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, pgettext_lazy
from django.views.decorators.http import require_POST
from django_celery_results.models import TaskResult
from kombu.exceptions import OperationalError

from dashboard.jobs.services import can_cancel
from dashboard.live.state import TaskView
from dashboard.models import TaskAction, TaskEvent, TaskLaunch
from dashboard.monitor.access import get_task_for_user
from dashboard.monitor.actions import (
    DEFAULT_TERMINATE_SIGNAL,
    RETRYABLE_STATES,
    REVOCABLE_STATES,
    RUNNING_STATES,
    TERMINATE_SIGNALS,
    TaskActionRefused,
    task_retry,
    task_revoke,
    tasks_act_in_bulk,
)
from dashboard.monitor.filters import (
    DEFAULT_ORDER,
    PAGE_SIZE,
    PAGE_SIZES,
    SORT_LABELS,
    Page,
    TaskFilterForm,
    filtered_tasks,
    is_text_search,
    known_task_names,
    query_without_state,
    state_counts_cached,
    tasks_page,
    window_label,
)
from dashboard.monitor.listing import task_views
from dashboard.monitor.preferences import TaskListViewForm, task_list_preference_get, task_list_preference_save
from dashboard.permissions import ACT_ON_TASKS, EXPORT_DATA, may, needs, require
from dashboard.rendering import render_page
from site_config.machinery.staff import is_active_staff, staff_required

BULK_LIMIT = 1000


def _can_act(user) -> bool:
    return may(user, ACT_ON_TASKS)


def _require_act(request) -> None:
    require(request.user, ACT_ON_TASKS)


#: Parameters of the column picker, not of the filter: kept out of the list's links and its socket.
VIEW_PARAMS = ("view", "columns", "size")


@staff_required
def task_list(request):
    preference = task_list_preference_get(user=request.user)
    view_form = TaskListViewForm(initial={"columns": preference.columns, "size": preference.page_size})
    if request.GET.get("view"):  # the column picker (a GET form, so it also works without JS): remember it
        view_form = TaskListViewForm(request.GET)
        if view_form.is_valid():
            preference = task_list_preference_save(user=request.user, columns=view_form.cleaned_data["columns"],
                                                   page_size=view_form.cleaned_data["size"])
    page_size = preference.page_size if preference.page_size in PAGE_SIZES else PAGE_SIZE
    form = TaskFilterForm(request.GET)
    if form.is_valid():
        data = form.cleaned_data
        page = tasks_page(data, size=page_size)
        counts = state_counts_cached(data, compute=False)  # None: the chips load themselves
    else:
        data, page, counts = {}, Page([], None, None), []
    params = request.GET.copy()
    for key in ("cursor", *VIEW_PARAMS):
        params.pop(key, None)
    base_query = params.urlencode()
    sort = data.get("sort") or "received"
    context = {
        "form": form,
        "view_form": view_form,
        "filter_params": [(key, value) for key, values in params.lists() for value in values],
        "columns": preference.columns,
        "estimated": any(count.kind != "exact" for count in counts or ()),
        "tasks": task_views(page.rows),
        "counts": counts,
        "current_state": data.get("state") or "",
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
        "is_first_page": not page.previous_cursor,
        "live": not data.get("cursor"),
        "base_query": base_query,
        "chip_query": query_without_state(params),
        "ws_query": base_query,
        "can_act": _can_act(request.user),
        "can_export": may(request.user, EXPORT_DATA),
        "page_size": page_size,
        "sort_label": SORT_LABELS[sort],
        "descending": data.get("order", DEFAULT_ORDER[sort]) == "desc",
        "window": window_label(data),
        "text_search": is_text_search(data),
        "task_names": known_task_names(),
    }
    return render_page(request, "dashboard/monitor/list.html", context, partial="task-table",
                       status=200 if form.is_valid() else 400)


@login_required
def task_detail(request, task_id: str):
    """Staff see any task; a member only the tasks they launched (404 otherwise)."""
    staff = is_active_staff(request.user)
    if not staff:
        view = get_task_for_user(request.user, task_id)
        return render(request, "dashboard/monitor/detail.html", {"task": view, "show_traceback": False, "staff": False,
                                                                 "can_cancel": not view.is_final and can_cancel(request.user, task_id)})
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        raise Http404("No such task.")
    launch = TaskLaunch.objects.select_related("launched_by").filter(task_id=task_id).first()
    actions = list(TaskAction.objects.filter(task_id=task_id).select_related("user"))
    retried_as = [action for action in actions if action.kind == TaskAction.Kind.RETRY and action.new_task_id]
    return render(request, "dashboard/monitor/detail.html", {
        "task": TaskView.from_row(row, launch),
        "show_traceback": True,
        "staff": True,
        "row": row,
        "launch": launch,
        "args_json": _pretty(launch.args if launch else None, row.task_args),
        "kwargs_json": _pretty(launch.kwargs if launch else None, row.task_kwargs),
        "events": TaskEvent.objects.filter(task_id=task_id),
        "actions": actions,
        "retried_as": retried_as,
        "children": TaskLaunch.objects.filter(parent_id=task_id).values_list("task_id", flat=True)[:100],
        "queue_wait": (row.date_started - row.date_created).total_seconds() if row.date_started else None,
        "can_act": _can_act(request.user),
        "act_needs": needs(ACT_ON_TASKS),
        "can_retry": row.status in RETRYABLE_STATES and not retried_as,
        "can_revoke": row.status in REVOCABLE_STATES,
        "can_terminate": row.status in RUNNING_STATES,
        "can_cancel": row.status not in states.READY_STATES and can_cancel(request.user, task_id),
    })


def _pretty(value, fallback: str | None) -> str:
    if value is not None:
        return json.dumps(value, indent=2, sort_keys=True, default=str)
    if not fallback:
        return ""
    try:
        return str(json.loads(fallback))
    except ValueError:
        return fallback


@staff_required
@require_POST
def task_retry_view(request, task_id: str):
    _require_act(request)
    try:
        new_id = task_retry(user=request.user, task_id=task_id)
    except TaskActionRefused as refusal:
        messages.error(request, str(refusal))
        return redirect("dashboard:task_detail", task_id=task_id)
    except OperationalError:
        messages.error(request, gettext("The task queue (Redis) cannot be reached; nothing was sent."))
        return redirect("dashboard:task_detail", task_id=task_id)
    messages.success(request, gettext("Sent again as a new task, linked to the original."))
    return redirect("dashboard:task_detail", task_id=new_id)


@staff_required
def task_revoke_view(request, task_id: str, terminate: bool = False):
    """GET: a confirmation page that says what will happen. POST: do it."""
    _require_act(request)
    view = get_task_for_user(request.user, task_id)
    signal = request.POST.get("signal", DEFAULT_TERMINATE_SIGNAL) if terminate else DEFAULT_TERMINATE_SIGNAL
    context = {"task": view, "terminate": terminate, "signals": TERMINATE_SIGNALS, "signal": signal}
    if request.method != "POST":
        return render(request, "dashboard/monitor/confirm.html", context)
    if signal not in TERMINATE_SIGNALS:
        return render(request, "dashboard/monitor/confirm.html",
                      {**context, "signal_error": gettext("Choose one of the signals offered.")}, status=400)
    try:
        task_revoke(user=request.user, task_id=task_id, terminate=terminate, signal=signal)
    except TaskActionRefused as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, gettext("Terminated with %(signal)s.") % {"signal": signal} if terminate
                         else gettext("Revoked: it will not run."))
    return redirect("dashboard:task_detail", task_id=task_id)


BULK_ACTION_LABELS = {"retry": pgettext_lazy("bulk action", "Retry"), "revoke": pgettext_lazy("bulk action", "Revoke"),
                      "terminate": pgettext_lazy("bulk action", "Terminate")}


@staff_required
def tasks_bulk(request):
    """Retry or revoke every task matching the list's filters: count and confirm, then act."""
    _require_act(request)
    source = request.POST if request.method == "POST" else request.GET
    action = source.get("action")
    if action not in ("retry", "revoke", "terminate"):
        messages.error(request, gettext("Choose retry, revoke or terminate."))
        return redirect("dashboard:task_list")
    signal = source.get("signal", DEFAULT_TERMINATE_SIGNAL)
    if signal not in TERMINATE_SIGNALS:
        messages.error(request, gettext("Choose one of the signals offered."))
        return redirect("dashboard:task_list")
    form = TaskFilterForm(source)
    if not form.is_valid():
        return render(request, "dashboard/monitor/list.html", {"form": form, "tasks": []}, status=400)
    eligible = {"retry": RETRYABLE_STATES, "revoke": REVOCABLE_STATES, "terminate": RUNNING_STATES}[action]
    qs = filtered_tasks(form.cleaned_data).filter(status__in=eligible)
    if action == "retry":  # each task is retried once; its retry is what to retry next
        qs = qs.exclude(task_id__in=TaskAction.objects.filter(kind=TaskAction.Kind.RETRY).values("task_id"))
    count = qs.count()
    params = source.copy()
    for key in ("csrfmiddlewaretoken", "confirm", "action", "cursor", "signal", *VIEW_PARAMS):
        params.pop(key, None)
    if request.method != "POST" or source.get("confirm") != "yes":
        return render(request, "dashboard/monitor/bulk_confirm.html", {
            "action": action, "action_label": BULK_ACTION_LABELS[action], "count": count, "limit": BULK_LIMIT, "params": params, "query": params.urlencode(),
            "signals": TERMINATE_SIGNALS, "signal": signal,
        })
    task_ids = list(qs.order_by("-date_created", "-id").values_list("task_id", flat=True)[:BULK_LIMIT])
    outcome = tasks_act_in_bulk(user=request.user, action=action, task_ids=task_ids, signal=signal)
    messages.success(request, gettext("%(action)s: %(done)d done, %(refused)d refused.") % {
        "action": BULK_ACTION_LABELS[action], "done": len(outcome["done"]), "refused": len(outcome["refused"])})
    return redirect(f"{reverse('dashboard:task_list')}?{params.urlencode()}")


@staff_required
def task_counts(request):
    """The state chips alone, for the list page's periodic refresh."""
    form = TaskFilterForm(request.GET)
    valid = form.is_valid()
    counts = state_counts_cached(form.cleaned_data) if valid else []
    params = request.GET.copy()
    for key in ("cursor", *VIEW_PARAMS):
        params.pop(key, None)
    return render(request, "dashboard/monitor/list.html#chips", {
        "counts": counts, "estimated": any(count.kind != "exact" for count in counts), "base_query": params.urlencode(), "chip_query": query_without_state(params),
        "current_state": (form.cleaned_data.get("state") if valid else "") or "",
        "window": window_label(form.cleaned_data if valid else {}),
    })
