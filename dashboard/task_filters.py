"""The task list's filters, sorting and keyset (cursor) pagination, shared by the page and its socket.

All filters live in the URL (GET), so a filtered list is linkable and the back button works. Pages
are fetched by cursor (the last row's sort value and id), never OFFSET, so page 500 costs what page 1
costs: with the composite indexes from migration 0003, each single-column filter plus the default
order is one index range scan. Sorting by runtime orders by a computed value (a scan of the matching
rows) and the free-text search is a substring scan; both are measured in docs/benchmarks.md.
"""

from __future__ import annotations

import re
from datetime import datetime

from celery import states
from django import forms
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch

PAGE_SIZE = 25
STATE_CHOICES = [("", "Any state")] + [
    (s, s.title()) for s in (states.PENDING, states.STARTED, "PROGRESS", states.RETRY, states.SUCCESS, states.FAILURE,
                             states.REVOKED)
]
SORTS = {
    "received": "date_created",
    "started": "date_started",
    "finished": "date_done",
    "runtime": "runtime",
}
UUID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$")


class TaskFilterForm(forms.Form):
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    name = forms.CharField(required=False, max_length=255, label="Task name")
    worker = forms.CharField(required=False, max_length=255)
    queue = forms.CharField(required=False, max_length=200)
    launched_by = forms.CharField(required=False, max_length=150, label="Started by")
    periodic = forms.CharField(required=False, max_length=255, label="Schedule")
    date_from = forms.DateTimeField(required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    date_to = forms.DateTimeField(required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, max_length=200, label="Search id, args, result")
    sort = forms.ChoiceField(choices=[(k, k.title()) for k in SORTS], required=False, initial="received")
    cursor = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def clean_cursor(self):
        raw = self.cleaned_data.get("cursor") or ""
        if not raw:
            return None
        try:
            value, pk = raw.rsplit("~", 1)
            return value, int(pk)
        except ValueError:
            raise forms.ValidationError("This page link is damaged; start again from the first page.") from None

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "Must be after “From”.")
        return data


def filtered_tasks(data: dict, *, include_state: bool = True):
    """TaskResult rows matching the cleaned filters (not ordered, not paged)."""
    qs = TaskResult.objects.all()
    if include_state and data.get("state"):
        qs = qs.filter(status=data["state"])
    if data.get("name"):
        qs = qs.filter(task_name=data["name"])
    if data.get("worker"):
        qs = qs.filter(worker=data["worker"])
    if data.get("periodic"):
        qs = qs.filter(periodic_task_name=data["periodic"])
    if data.get("date_from"):
        qs = qs.filter(date_created__gte=data["date_from"])
    if data.get("date_to"):
        qs = qs.filter(date_created__lte=data["date_to"])
    if data.get("queue"):
        qs = qs.filter(task_id__in=TaskLaunch.objects.filter(queue=data["queue"]).values("task_id"))
    if data.get("launched_by"):
        qs = qs.filter(task_id__in=TaskLaunch.objects.filter(
            launched_by__username=data["launched_by"]).values("task_id"))
    if data.get("q"):
        term = data["q"].strip()
        if UUID_LIKE.match(term):
            qs = qs.filter(task_id__startswith=term.lower())
        else:
            qs = qs.filter(Q(task_args__icontains=term) | Q(task_kwargs__icontains=term) | Q(result__icontains=term))
    return qs


def tasks_page(data: dict, size: int = PAGE_SIZE) -> tuple[list[TaskResult], str | None]:
    """One page of rows in the chosen order after the cursor, and the cursor of the next page."""
    sort = data.get("sort") or "received"
    field = SORTS[sort]
    qs = filtered_tasks(data)
    if sort == "runtime":
        qs = qs.filter(status__in=states.READY_STATES, date_started__isnull=False).annotate(
            runtime=ExpressionWrapper(F("date_done") - F("date_started"), output_field=DurationField()))
    elif sort == "started":
        qs = qs.filter(date_started__isnull=False)
    elif sort == "finished":
        qs = qs.filter(status__in=states.READY_STATES)
    cursor = data.get("cursor")
    if cursor:
        value = _parse_cursor_value(sort, cursor[0])
        qs = qs.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": cursor[1]}))
    rows = list(qs.order_by(f"-{field}", "-id")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{_cursor_value(getattr(last, field))}~{last.pk}"
    return rows, next_cursor


def state_counts(data: dict) -> list[tuple[str, int]]:
    """Counts per state for the current filter (ignoring the state filter itself)."""
    counts = dict(
        filtered_tasks(data, include_state=False).order_by().values_list("status").annotate(n=Count("id"))
    )
    return [(state, counts.get(state, 0)) for state, _label in STATE_CHOICES[1:]]


def _cursor_value(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value.total_seconds()) if hasattr(value, "total_seconds") else str(value)


def _parse_cursor_value(sort: str, raw: str):
    from datetime import timedelta

    try:
        if sort == "runtime":
            return timedelta(seconds=float(raw))
        value = datetime.fromisoformat(raw)
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    except ValueError:
        raise forms.ValidationError("This page link is damaged; start again from the first page.") from None
