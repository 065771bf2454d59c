"""The form staff use to change a periodic task's schedule (crontab or interval)."""

from django import forms
from django.core.exceptions import ValidationError
from django_celery_beat import validators

PERIODS = [("seconds", "seconds"), ("minutes", "minutes"), ("hours", "hours"), ("days", "days")]
PERIOD_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CRONTAB_FIELDS = [
    ("minute", validators.minute_validator),
    ("hour", validators.hour_validator),
    ("day of month", validators.day_of_month_validator),
    ("month", validators.month_of_year_validator),
    ("day of week", validators.day_of_week_validator),
]


class ScheduleForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("crontab", "At set times (crontab)"), ("interval", "Every so often (interval)")],
        widget=forms.RadioSelect,
        label="Schedule type",
    )
    crontab = forms.CharField(
        required=False,
        max_length=200,
        label="Crontab",
        help_text="minute hour day-of-month month day-of-week, in the site time zone; e.g. 5 0 * * * is every day at 00:05.",
    )
    every = forms.IntegerField(required=False, min_value=1, max_value=1_000_000, label="Every")
    period = forms.ChoiceField(required=False, choices=PERIODS, label="Unit")

    def clean_crontab(self) -> str:
        value = " ".join(self.cleaned_data.get("crontab", "").split())
        if self.data.get("kind") != "crontab":
            return value
        if not value:
            raise ValidationError("Enter a crontab, like 5 0 * * *.")
        parts = value.split(" ")
        if len(parts) != 5:
            raise ValidationError(f"A crontab has 5 fields (minute hour day-of-month month day-of-week); this has {len(parts)}.")
        for (label, validator), part in zip(CRONTAB_FIELDS, parts):
            try:
                validator(part)
            except ValidationError:
                raise ValidationError(f"{part!r} is not a valid {label}.") from None
        return value

    def clean(self):
        data = super().clean()
        if data.get("kind") == "interval":
            if not data.get("every") and "every" not in self.errors:
                self.add_error("every", "Enter how often, as a whole number.")
            if not data.get("period"):
                self.add_error("period", "Choose a unit.")
        return data

    def every_seconds(self) -> int | None:
        data = self.cleaned_data
        if data["kind"] != "interval":
            return None
        return data["every"] * PERIOD_SECONDS[data["period"]]

    @classmethod
    def for_task(cls, periodic_task) -> "ScheduleForm":
        from dashboard.schedules import crontab_expression

        if periodic_task.interval_id:
            interval = periodic_task.interval
            period = interval.period if interval.period in PERIOD_SECONDS else "seconds"
            return cls(initial={"kind": "interval", "every": interval.every, "period": period, "crontab": "5 0 * * *"})
        crontab = crontab_expression(periodic_task.crontab) if periodic_task.crontab_id else "5 0 * * *"
        return cls(initial={"kind": "crontab", "crontab": crontab, "every": 10, "period": "minutes"})
