"""django-celery-beat's periodic task admin, registered again under the dashboard's rules.

A schedule decides which task runs with which arguments, so the admin follows the run form
(dashboard/workers/launch.py): adding a schedule, or changing what it runs (the task, its
arguments, queue, exchange, routing key, priority, headers), needs `dashboard.run_task` on top of
the model permission, and the arguments are checked against the task's declaration. Without it the
change page still edits the timing and the enabled flag; those fields are shown read-only. Header
keys that carry launch metadata are refused (services.RESERVED_HEADERS). The list's actions say
which permission they need and go through the same services as the dashboard, so they are audited;
filters work on the offered filters only (site_config/machinery/admin_lookups.py).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy, ngettext
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from dashboard.permissions import RUN_TASK, may
from dashboard.schedules.services import (
    RESERVED_HEADERS,
    ScheduleRefused,
    UnknownTask,
    schedule_run_now,
    schedule_set_enabled,
)
from dashboard.workers.launch import ArgumentsRefused, task_arguments_check
from site_config.machinery.admin_lookups import AllowListedLookups

#: What a schedule runs (as opposed to when): changing any of these is running a task.
RUN_FIELDS = ("regtask", "task", "args", "kwargs", "queue", "exchange", "routing_key", "priority", "headers")


class CheckedPeriodicTaskForm(PeriodicTaskForm):
    def clean_headers(self) -> str:
        raw = self.cleaned_data.get("headers") or "{}"
        try:
            headers = json.loads(raw)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}.") from None
        if not isinstance(headers, dict):
            raise forms.ValidationError("Must be a JSON object.")
        reserved = sorted(set(headers) & RESERVED_HEADERS)
        if reserved:
            raise forms.ValidationError(
                f"{', '.join(reserved)}: launch metadata comes from the server, never from a schedule.")
        return raw

    def clean(self):
        data = super().clean()
        task = data.get("task")
        if task and "args" in data and "kwargs" in data and not self.errors.get("args") and not self.errors.get("kwargs"):
            args, kwargs = json.loads(data["args"] or "[]"), json.loads(data["kwargs"] or "{}")
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                self.add_error("args", "Positional arguments must be a JSON list, keyword arguments a JSON object.")
            else:
                try:
                    task_arguments_check(name=task, args=args, kwargs=kwargs)
                except ArgumentsRefused as refusal:
                    self.add_error(refusal.field if refusal.field != "task" else None, str(refusal))
        return data


class CheckedPeriodicTaskAdmin(AllowListedLookups, PeriodicTaskAdmin):
    form = CheckedPeriodicTaskForm
    actions = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and may(request.user, RUN_TASK)

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not may(request.user, RUN_TASK):
            return fields + tuple(field for field in RUN_FIELDS if field != "regtask")
        return fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not may(request.user, RUN_TASK):
            # The task chooser is a form-only field; read-only, the stored task name shows instead.
            return [(title, {**options, "fields": tuple(f for f in options["fields"] if f != "regtask")})
                    for title, options in fieldsets]
        return fieldsets

    def _set_enabled(self, request, queryset, enabled) -> None:
        changed = 0
        for pt in queryset:
            target = (not pt.enabled) if enabled is None else enabled
            changed += schedule_set_enabled(periodic_task_id=pt.pk, enabled=target, user=request.user)
        self.message_user(request, ngettext("%(count)s schedule changed.", "%(count)s schedules changed.", changed) % {"count": changed})

    @admin.action(description=gettext_lazy("Enable selected tasks"), permissions=["change"])
    def enable_tasks(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=gettext_lazy("Disable selected tasks"), permissions=["change"])
    def disable_tasks(self, request, queryset):
        self._set_enabled(request, queryset, False)

    @admin.action(description=gettext_lazy("Toggle activity of selected tasks"), permissions=["change"])
    def toggle_tasks(self, request, queryset):
        self._set_enabled(request, queryset, None)

    @admin.action(description=gettext_lazy("Run selected tasks"), permissions=["change"])
    def run_tasks(self, request, queryset):
        queued = 0
        for pt in queryset:
            try:
                schedule_run_now(periodic_task_id=pt.pk, user=request.user)
            except (UnknownTask, ScheduleRefused) as error:
                self.message_user(request, gettext("%(name)s: %(error)s") % {"name": pt.name, "error": error}, level=messages.ERROR)
            else:
                queued += 1
        self.message_user(request, ngettext("%(count)s schedule queued to run now.", "%(count)s schedules queued to run now.",
                                            queued) % {"count": queued})


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, CheckedPeriodicTaskAdmin)
