"""Schedules pages (staff only): every periodic task, its next and last run; create, duplicate,
delete, enable, disable (one or many), change the schedule, run now. Business logic lives in
dashboard.schedules.services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST
from django_celery_beat.models import PeriodicTask
from django_htmx.http import HttpResponseClientRedirect

from dashboard.models import ScheduleChange
from dashboard.permissions import ADD_SCHEDULES, CHANGE_SCHEDULES, DELETE_SCHEDULES, RUN_TASK, may, needs, require
from dashboard.rendering import render_page
from dashboard.schedules.forms import SCHEDULE_FORMS, ScheduleCreateForm, schedule_form_for
from dashboard.schedules.services import (
    SCHEDULE_MODELS,
    ScheduleRefused,
    UnknownTask,
    project_task_names,
    schedule_create,
    schedule_delete,
    schedule_duplicate,
    schedule_is_declared,
    schedule_kind,
    schedule_row,
    schedule_rows,
    schedule_run_now,
    schedule_set_enabled,
    schedule_update,
    schedules_set_enabled,
)
from site_config.machinery.staff import staff_required

CHANGES_SHOWN = 50


def _require_change(request) -> None:
    """Looking is for staff; changing or running a schedule needs django-celery-beat's own
    "change periodic task" permission (superusers have it; grant it in the admin)."""
    require(request.user, CHANGE_SCHEDULES)


def _redirect(request, url: str):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@staff_required
def schedule_list(request):
    context = {
        "rows": schedule_rows(),
        "changes": ScheduleChange.objects.select_related("changed_by")[:10],
        "time_zone": settings.TIME_ZONE,
        "declared": set(settings.PERIODIC_TASKS),
    }
    return render_page(request, "dashboard/schedules/list.html", context, partial="schedule-table")


@staff_required
def schedule_detail(request, pk: int):
    """The schedule's facts and the edit form of its own type.

    `?kind=<type>` (GET) opens another type's form: changing type is a choice made on the page, and
    the form then says so; a POST carries the type of the form that was shown.
    """
    periodic_task = get_object_or_404(PeriodicTask.objects.select_related(*SCHEDULE_MODELS), pk=pk)
    current_kind = schedule_kind(periodic_task)
    current_row = getattr(periodic_task, current_kind) if current_kind else None
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind") or current_kind or "crontab"
    if kind not in SCHEDULE_FORMS:
        return HttpResponseBadRequest(gettext("Unknown schedule type '%(kind)s': choose one of %(kinds)s.") % {
            "kind": kind, "kinds": ", ".join(SCHEDULE_FORMS)})
    status = 200
    if request.method == "POST":
        _require_change(request)
        form = schedule_form_for(kind, current_kind=current_kind, current_row=current_row, data=request.POST)
        if form.is_valid():
            changed = schedule_update(periodic_task_id=pk, user=request.user, kind=kind, fields=form.schedule_fields())
            messages.success(request, gettext("Schedule changed.") if changed else gettext("The schedule was already that."))
            return _redirect(request, reverse("dashboard:schedule_detail", args=[pk]))
        status = 200 if request.htmx else 400  # htmx swaps only 2xx answers: the form comes back with its errors
    else:
        form = schedule_form_for(kind, current_kind=current_kind, current_row=current_row)
    context = {
        "pt": periodic_task,
        "row": schedule_row(periodic_task),
        "form": form,
        "kind": kind,
        "current_kind": current_kind,
        "kinds": [(name, form_class.title) for name, form_class in SCHEDULE_FORMS.items()],
        "changes": ScheduleChange.objects.select_related("changed_by").filter(periodic_task=periodic_task)[:CHANGES_SHOWN],
        "declared": schedule_is_declared(periodic_task.name),
    }
    # htmx only posts the form (which comes back with its errors); a GET is always the whole page.
    return render_page(request, "dashboard/schedules/detail.html", context, partial="schedule-form", status=status,
                       htmx=request.htmx and request.method == "POST")


@staff_required
@require_POST
def schedule_enable(request, pk: int):
    """POST enabled=1 or enabled=0. HTMX gets the updated row back; a plain form the list page."""
    _require_change(request)
    periodic_task = get_object_or_404(PeriodicTask, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    changed = schedule_set_enabled(periodic_task_id=pk, enabled=enabled, user=request.user)
    if request.htmx:  # the swapped row says it; a flash message would only show up on the next page
        periodic_task.refresh_from_db()
        return render(request, "dashboard/schedules/list.html#schedule-row",
                      {"row": schedule_row(periodic_task), "declared": set(settings.PERIODIC_TASKS)})
    if changed:
        messages.success(request, (gettext("%(name)s enabled.") if enabled else gettext("%(name)s disabled."))
                         % {"name": periodic_task.name})
    if request.POST.get("next") == "detail":
        return redirect("dashboard:schedule_detail", pk=pk)
    return redirect("dashboard:schedule_list")


@staff_required
@require_POST
def schedule_run(request, pk: int):
    """Queue one run now and open its live task page."""
    _require_change(request)
    periodic_task = get_object_or_404(PeriodicTask, pk=pk)
    try:
        task_id = schedule_run_now(periodic_task_id=periodic_task.pk, user=request.user)
    except (UnknownTask, ScheduleRefused) as error:
        messages.error(request, str(error))
        return _redirect(request, reverse("dashboard:schedule_list"))
    messages.success(request, gettext("%(name)s queued.") % {"name": periodic_task.name})
    return _redirect(request, reverse("dashboard:task_detail", args=[task_id]))


@staff_required
def schedule_create_view(request):
    """A new schedule: what it runs (a project task, JSON arguments, a queue) and when (the form of
    the chosen type, `?kind=`, as on the edit page)."""
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind") or "crontab"
    if kind not in SCHEDULE_FORMS:
        return HttpResponseBadRequest(gettext("Unknown schedule type '%(kind)s': choose one of %(kinds)s.") % {
            "kind": kind, "kinds": ", ".join(SCHEDULE_FORMS)})
    task_names = project_task_names()
    status = 200
    if request.method == "POST":
        require(request.user, ADD_SCHEDULES)
        require(request.user, RUN_TASK)  # a schedule runs a task with the arguments it names
        form = ScheduleCreateForm(request.POST, task_names=task_names)
        schedule_form = schedule_form_for(kind, current_kind=None, current_row=None, data=request.POST)
        if form.is_valid() and schedule_form.is_valid():
            data = form.cleaned_data
            try:
                pt = schedule_create(user=request.user, name=data["name"], task=data["task"], kind=kind,
                                     fields=schedule_form.schedule_fields(), args=data["args"], kwargs=data["kwargs"],
                                     queue=data["queue"], enabled=data["enabled"], description=data["description"])
            except ScheduleRefused as refusal:
                form.add_error("name", str(refusal))
            else:
                messages.success(request, gettext("Schedule %(name)s created.") % {"name": pt.name})
                return redirect("dashboard:schedule_detail", pk=pt.pk)
        status = 400
    else:
        form = ScheduleCreateForm(task_names=task_names)
        schedule_form = schedule_form_for(kind, current_kind=None, current_row=None)
    context = {
        "form": form, "schedule_form": schedule_form, "kind": kind,
        "kinds": [(name, form_class.title) for name, form_class in SCHEDULE_FORMS.items()],
        "allowed": may(request.user, ADD_SCHEDULES) and may(request.user, RUN_TASK),
        "needs": needs(ADD_SCHEDULES) if not may(request.user, ADD_SCHEDULES) else needs(RUN_TASK),
    }
    return render(request, "dashboard/schedules/create.html", context, status=status)


@staff_required
@require_POST
def schedule_duplicate_view(request, pk: int):
    """A disabled copy under a unique name; opens the copy's page."""
    require(request.user, ADD_SCHEDULES)
    require(request.user, RUN_TASK)
    original = get_object_or_404(PeriodicTask, pk=pk)
    try:
        copy = schedule_duplicate(periodic_task_id=original.pk, user=request.user)
    except ScheduleRefused as refusal:
        messages.error(request, str(refusal))
        return _redirect(request, reverse("dashboard:schedule_detail", args=[pk]))
    messages.success(request, gettext("%(original)s copied as %(copy)s, disabled: change it, then enable it.")
                     % {"original": original.name, "copy": copy.name})
    return _redirect(request, reverse("dashboard:schedule_detail", args=[copy.pk]))


@staff_required
def schedule_delete_view(request, pk: int):
    """GET: what deleting means (or why this schedule cannot be deleted). POST: delete it."""
    periodic_task = get_object_or_404(PeriodicTask.objects.select_related(*SCHEDULE_MODELS), pk=pk)
    if request.method == "POST":
        require(request.user, DELETE_SCHEDULES)
        try:
            name = schedule_delete(periodic_task_id=pk, user=request.user)
        except ScheduleRefused as refusal:
            messages.error(request, str(refusal))
            return _redirect(request, reverse("dashboard:schedule_detail", args=[pk]))
        messages.success(request, gettext("Schedule %(name)s deleted.") % {"name": name})
        return _redirect(request, reverse("dashboard:schedule_list"))
    context = {
        "row": schedule_row(periodic_task), "declared": schedule_is_declared(periodic_task.name),
        "allowed": may(request.user, DELETE_SCHEDULES), "needs": needs(DELETE_SCHEDULES),
    }
    return render(request, "dashboard/schedules/delete_confirm.html", context)


@staff_required
@require_POST
def schedules_bulk(request):
    """POST action=enable|disable with the ticked ids: each one changed and recorded."""
    require(request.user, CHANGE_SCHEDULES)
    action = request.POST.get("action")
    if action not in ("enable", "disable"):
        return HttpResponseBadRequest(gettext("Choose enable or disable."))
    try:
        ids = sorted({int(pk) for pk in request.POST.getlist("ids")})
    except ValueError:
        return HttpResponseBadRequest(gettext("Schedule ids are numbers."))
    if not ids:
        messages.error(request, gettext("Tick at least one schedule."))
        return _redirect(request, reverse("dashboard:schedule_list"))
    changed = schedules_set_enabled(periodic_task_ids=ids, enabled=action == "enable", user=request.user)
    unchanged = len(ids) - len(changed)
    if action == "enable":
        text = ngettext("%(count)d schedule enabled", "%(count)d schedules enabled", len(changed))
        rest = gettext("; %(unchanged)d already enabled.")
    else:
        text = ngettext("%(count)d schedule disabled", "%(count)d schedules disabled", len(changed))
        rest = gettext("; %(unchanged)d already disabled.")
    numbers = {"count": len(changed), "unchanged": unchanged}
    messages.success(request, text % numbers + (rest % numbers if unchanged else "."))
    return _redirect(request, reverse("dashboard:schedule_list"))
