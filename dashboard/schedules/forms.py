"""The forms staff use to edit a periodic task's schedule: one per type django-celery-beat has.

Each form knows how to show a stored schedule row (`initial_from`) and which model fields a valid
submission stands for (`schedule_fields`). The forms show what is stored, unnormalised ("120
seconds" stays "120 seconds", a crontab keeps its own time zone), so saving a form unchanged gives
back exactly the same fields and the service keeps the same row.
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat import validators
from django_celery_beat.models import SOLAR_SCHEDULES, IntervalSchedule

CRONTAB_FIELDS = [
    (_("minute"), validators.minute_validator),
    (_("hour"), validators.hour_validator),
    (_("day of month"), validators.day_of_month_validator),
    (_("month"), validators.month_of_year_validator),
    (_("day of week"), validators.day_of_week_validator),
]
CRONTAB_PARTS = ["minute", "hour", "day_of_month", "month_of_year", "day_of_week"]
CLOCKED_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class CrontabScheduleForm(forms.Form):
    kind = "crontab"
    title = _("At set times (crontab)")

    crontab = forms.CharField(
        max_length=200,
        label=_("Crontab"),
        help_text=_("minute hour day-of-month month day-of-week; e.g. 5 0 * * * is every day at 00:05."),
    )
    timezone = forms.ChoiceField(
        choices=_zone_choices,
        required=False,
        label=_("Time zone"),
        help_text=_("The zone the times above are in. Left empty: the site's zone."),
    )

    def clean_crontab(self) -> str:
        value = " ".join(self.cleaned_data.get("crontab", "").split())
        parts = value.split(" ")
        if len(parts) != 5:
            raise ValidationError(gettext("A crontab has 5 fields (minute hour day-of-month month day-of-week); this has %(count)d.")
                                  % {"count": len(parts)})
        for (label, validator), part in zip(CRONTAB_FIELDS, parts):
            try:
                validator(part)
            except ValidationError:
                raise ValidationError(gettext("%(part)r is not a valid %(field)s.") % {"part": part, "field": label}) from None
        return value

    def clean_timezone(self) -> str:
        return self.cleaned_data.get("timezone") or settings.TIME_ZONE

    def schedule_fields(self) -> dict:
        fields = dict(zip(CRONTAB_PARTS, self.cleaned_data["crontab"].split(" ")))
        fields["timezone"] = self.cleaned_data["timezone"]
        return fields

    @staticmethod
    def initial_from(row) -> dict:
        if row is None:
            return {"crontab": "5 0 * * *", "timezone": settings.TIME_ZONE}
        return {"crontab": " ".join(getattr(row, part) for part in CRONTAB_PARTS), "timezone": str(row.timezone)}


class IntervalScheduleForm(forms.Form):
    kind = "interval"
    title = _("Every so often (interval)")

    every = forms.IntegerField(min_value=1, max_value=1_000_000_000, label=_("Every"))
    period = forms.ChoiceField(choices=IntervalSchedule.PERIOD_CHOICES, label=_("Unit"))

    def schedule_fields(self) -> dict:
        return {"every": self.cleaned_data["every"], "period": self.cleaned_data["period"]}

    @staticmethod
    def initial_from(row) -> dict:
        if row is None:
            return {"every": 10, "period": IntervalSchedule.MINUTES}
        return {"every": row.every, "period": row.period}


class SolarScheduleForm(forms.Form):
    kind = "solar"
    title = _("At a solar event (sunrise, sunset...)")

    event = forms.ChoiceField(choices=SOLAR_SCHEDULES, label=_("Event"))
    latitude = forms.DecimalField(
        max_digits=9, decimal_places=6, min_value=-90, max_value=90, label=_("Latitude"),
        help_text=_("Degrees north (negative: south), e.g. 52.52 for Berlin."),
    )
    longitude = forms.DecimalField(
        max_digits=9, decimal_places=6, min_value=-180, max_value=180, label=_("Longitude"),
        help_text=_("Degrees east (negative: west), e.g. 13.405 for Berlin."),
    )

    def schedule_fields(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("event", "latitude", "longitude")}

    @staticmethod
    def initial_from(row) -> dict:
        if row is None:
            return {"event": "sunrise"}
        return {"event": row.event, "latitude": row.latitude, "longitude": row.longitude}


class ClockedScheduleForm(forms.Form):
    kind = "clocked"
    title = _("Once, at a date and time (clocked)")

    clocked_time = forms.DateTimeField(
        label=_("Date and time"),
        input_formats=[CLOCKED_FORMAT, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format=CLOCKED_FORMAT),
        help_text=_("In the site's time zone. A clocked schedule runs once (one-off)."),
    )

    def schedule_fields(self) -> dict:
        return {"clocked_time": self.cleaned_data["clocked_time"]}

    @staticmethod
    def initial_from(row) -> dict:
        if row is None:
            in_an_hour = timezone.localtime() + timedelta(hours=1)
            return {"clocked_time": in_an_hour.replace(minute=0, second=0, microsecond=0)}
        return {"clocked_time": timezone.localtime(row.clocked_time)}


SCHEDULE_FORMS: dict[str, type[forms.Form]] = {
    form.kind: form for form in (CrontabScheduleForm, IntervalScheduleForm, SolarScheduleForm, ClockedScheduleForm)
}


def schedule_form_for(kind: str, *, current_kind: str | None, current_row, data=None) -> forms.Form:
    """The edit form of one type: bound to `data` when given, else showing the stored row when the
    type is the schedule's own and that type's defaults when the page switches type."""
    form_class = SCHEDULE_FORMS[kind]
    if data is not None:
        return form_class(data)
    return form_class(initial=form_class.initial_from(current_row if kind == current_kind else None))



class ScheduleCreateForm(forms.Form):
    """What a new periodic task runs; its schedule comes from the type form shown beside it."""

    name = forms.CharField(label=_("Name"), max_length=200, help_text=_("Unique; e.g. nightly-export."))
    task = forms.ChoiceField(label=_("Task"), choices=(), help_text=_("One of this project's registered tasks."))
    args = forms.CharField(initial="[]", required=False, label=_("Positional arguments (JSON list)"))
    kwargs = forms.CharField(initial="{}", required=False, label=_("Keyword arguments (JSON object)"))
    queue = forms.CharField(label=_("Queue"), max_length=200, required=False, help_text=_("Left empty: the task's own routing."))
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args, task_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].choices = [(name, name) for name in task_names]

    def clean_name(self) -> str:
        from django_celery_beat.models import PeriodicTask

        name = self.cleaned_data["name"].strip()
        if PeriodicTask.objects.filter(name=name).exists():
            raise ValidationError(gettext("A schedule named %(name)r already exists.") % {"name": name})
        return name

    def _json(self, field: str, kind: type, empty):
        raw = (self.cleaned_data.get(field) or "").strip()
        if not raw:
            return empty
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise ValidationError(gettext("Not valid JSON: %(error)s.") % {"error": error}) from None
        if not isinstance(value, kind):
            raise ValidationError(gettext("Must be a JSON list.") if kind is list else gettext("Must be a JSON object."))
        return value

    def clean_args(self) -> list:
        return self._json("args", list, [])

    def clean_kwargs(self) -> dict:
        return self._json("kwargs", dict, {})

    def clean(self):
        from dashboard.workers.launch import ArgumentsRefused, task_arguments_check

        data = super().clean()
        if data.get("task") and "args" in data and "kwargs" in data:
            try:
                task_arguments_check(name=data["task"], args=data["args"], kwargs=data["kwargs"])
            except ArgumentsRefused as refusal:
                self.add_error(refusal.field, str(refusal))
        return data
