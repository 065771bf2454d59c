"""Forms of the workers page: one worker-control form per command, and running a task."""

from __future__ import annotations

import json
import re

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dashboard.workers.control import COMMANDS, Kind
from dashboard.workers.launch import ArgumentsRefused, project_task_names, queue_names, task_arguments_check

QUEUE_NAME = RegexValidator(r"^[A-Za-z0-9_.:-]{1,200}$", _("Letters, digits and . _ : - only."))
RATE = re.compile(r"^\d+(\.\d+)?(/[smh])?$")


class WorkerControlForm(forms.Form):
    """The workers to send `kind` to, and the command's own arguments.

    `workers` is the page's snapshot (dashboard.workers.services): only online workers can be
    chosen, and a pool command only for workers whose pool supports it.
    """

    workers = forms.MultipleChoiceField(label=_("Workers"), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, kind: str, workers: list[dict], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.command = COMMANDS[kind]
        self.online = {worker["hostname"]: worker for worker in workers if worker.get("online")}
        self.fields["workers"].choices = [(name, name) for name in sorted(self.online)]
        if kind in (Kind.POOL_GROW, Kind.POOL_SHRINK):
            self.fields["n"] = forms.IntegerField(label=_("Processes"), min_value=1, max_value=64, initial=1)
        elif kind == Kind.AUTOSCALE:
            self.fields["max"] = forms.IntegerField(label=_("Max processes"), min_value=1, max_value=256)
            self.fields["min"] = forms.IntegerField(label=_("Min processes"), min_value=0, max_value=256)
        elif kind in (Kind.ADD_CONSUMER, Kind.CANCEL_CONSUMER):
            self.fields["queue"] = forms.CharField(label=_("Queue"), max_length=200, validators=[QUEUE_NAME])
        elif kind in (Kind.RATE_LIMIT, Kind.TIME_LIMIT):
            self.fields["task_name"] = forms.ChoiceField(label=_("Task"), choices=[(n, n) for n in project_task_names()])
            if kind == Kind.RATE_LIMIT:
                self.fields["rate_limit"] = forms.CharField(
                    label=_("Rate limit"), required=False, max_length=20,
                    help_text=_("e.g. 10/m (per worker): a number, then /s, /m or /h; empty removes the limit"))
            else:
                self.fields["soft"] = forms.FloatField(label=_("Soft limit (s)"), required=False, min_value=0.1)
                self.fields["hard"] = forms.FloatField(label=_("Hard limit (s)"), required=False, min_value=0.1)

    def clean_workers(self) -> list[str]:
        chosen = self.cleaned_data["workers"]
        if self.command.pool_command:
            refused = [name for name in chosen if not self.online[name].get("supports", {}).get(self.kind)]
            if refused:
                raise forms.ValidationError(gettext(
                    "%(workers)s: its pool cannot %(command)s "
                    "(grow, shrink and restart need prefork; autoscale needs a worker started with --autoscale; "
                    "with autoscale on, change its range instead of growing or shrinking)."
                ) % {"workers": ", ".join(refused), "command": self.command.label.lower()})
        return chosen

    def clean_rate_limit(self) -> str | None:
        value = self.cleaned_data["rate_limit"].strip()
        if value and not RATE.match(value):
            raise forms.ValidationError(gettext("Write a number, optionally followed by /s, /m or /h (e.g. 10/m)."))
        return value or None

    def clean(self):
        data = super().clean()
        if self.kind == Kind.AUTOSCALE and data.get("max") is not None and data.get("min") is not None:
            if data["min"] > data["max"]:
                self.add_error("min", gettext("Min cannot be more than max."))
        if self.kind == Kind.TIME_LIMIT and data.get("soft") and data.get("hard") and data["soft"] >= data["hard"]:
            self.add_error("soft", gettext("The soft limit must come before the hard one."))
        return data

    def arguments(self) -> dict:
        """The command's arguments, as Celery's control command takes them."""
        data = self.cleaned_data
        if self.kind in (Kind.POOL_GROW, Kind.POOL_SHRINK):
            return {"n": data["n"]}
        if self.kind == Kind.AUTOSCALE:
            return {"max": data["max"], "min": data["min"]}
        if self.kind in (Kind.ADD_CONSUMER, Kind.CANCEL_CONSUMER):
            return {"queue": data["queue"]}
        if self.kind == Kind.RATE_LIMIT:
            return {"task_name": data["task_name"], "rate_limit": data["rate_limit"]}
        if self.kind == Kind.TIME_LIMIT:
            return {"task_name": data["task_name"], "soft": data["soft"], "hard": data["hard"]}
        return {}


def _json_field(label: str, initial: str, help_text: str) -> forms.CharField:
    return forms.CharField(label=label, initial=initial, required=False, help_text=help_text,
                           widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))


class RunTaskForm(forms.Form):
    task = forms.ChoiceField(label=_("Task"))
    args = _json_field(_("Positional arguments (JSON list)"), "[]", _("e.g. [5, 100] — empty means []"))
    kwargs = _json_field(_("Keyword arguments (JSON object)"), "{}", _('e.g. {"steps": 5} — empty means {}'))
    queue = forms.ChoiceField(label=_("Queue"), required=False)
    eta = forms.DateTimeField(label=_("Run at (ETA)"), required=False,
                              help_text=_("YYYY-MM-DD HH:MM in the site's time zone; empty: now"),
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    countdown = forms.FloatField(label=_("Or after (seconds)"), required=False, min_value=0, max_value=7 * 24 * 3600)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].choices = [("", gettext("— choose a task —"))] + [(n, n) for n in project_task_names()]
        self.fields["queue"].choices = [("", gettext("the task's usual queue"))] + [(q, q) for q in queue_names()]

    def _parse(self, field: str, kind: type, empty):
        text = (self.cleaned_data.get(field) or "").strip()
        if not text:
            return empty
        try:
            value = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(gettext("Not valid JSON: %(error)s.") % {"error": error})
        if not isinstance(value, kind):
            raise forms.ValidationError(gettext("Must be a JSON list.") if kind is list else gettext("Must be a JSON object."))
        return value

    def clean_args(self) -> list:
        return self._parse("args", list, [])

    def clean_kwargs(self) -> dict:
        return self._parse("kwargs", dict, {})

    def clean_eta(self):
        eta = self.cleaned_data.get("eta")
        if eta is not None and eta <= timezone.now():
            raise forms.ValidationError(gettext("The ETA is in the past; leave it empty to run now."))
        return eta

    def clean(self):
        data = super().clean()
        if data.get("eta") is not None and data.get("countdown") is not None:
            self.add_error("countdown", gettext("Give an ETA or a countdown, not both."))
        name = data.get("task")
        if name and "args" in data and "kwargs" in data:
            try:
                task_arguments_check(name=name, args=data["args"], kwargs=data["kwargs"])
            except ArgumentsRefused as refusal:
                self.add_error(refusal.field, str(refusal))
        return data
