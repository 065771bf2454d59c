"""The task list's filters, sorting and keyset (cursor) pagination, shared by the page and its socket.

All filters live in the URL (GET), so a filtered list is linkable and the back button works. Pages
are fetched by cursor (the last row's sort value and id), never OFFSET, so page 500 costs what page 1
costs: with the composite indexes from migration 0003, each single-column filter plus the default
order is one index range scan. The queue and "started by" filters (kept in TaskLaunch) fetch the few
matching ids when there are few, or probe rows while walking that order when there are many
(`_launch_filter`), so they too stop after one page of matches.

Sorting by runtime walks an index on TaskLaunch.runtime (TaskResult, which belongs to
django-celery-results, has no runtime column), written when each task finishes. Two things cannot
use an index on a table of millions (counting is proportional to what is counted; a substring
search reads every row): the state counts and the free-text search therefore cover a bounded window,
whatever dates are given: the last 24 hours when none is chosen, else the chosen dates, of which at
most the latest TASK_SCAN_MAX_DAYS; the page says which. A search for a task id (or its first
characters) uses the index and covers all time. The counts are cached per filter and recounted by
one request at a time while the others are served the previous counts.
Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from celery import states
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch

PAGE_SIZE = 25
DAMAGED_CURSOR = "This page link is damaged; start again from the first page."
DEFAULT_WINDOW = timedelta(hours=24)
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
    name = forms.CharField(required=False, max_length=255, label="Task name",
                           widget=forms.TextInput(attrs={"list": "task-names", "autocomplete": "off"}))
    worker = forms.CharField(required=False, max_length=255)
    queue = forms.CharField(required=False, max_length=200)
    launched_by = forms.CharField(required=False, max_length=150, label="Started by")
    periodic = forms.CharField(required=False, max_length=255, label="Schedule")
    date_from = forms.DateTimeField(required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    date_to = forms.DateTimeField(required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, max_length=200, label="Search id, args, result",
                        help_text="Text in args or result: the chosen dates (at most the latest week), else the last 24 h.")
    sort = forms.ChoiceField(choices=[(k, k.title()) for k in SORTS], required=False, initial="received")
    cursor = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def clean_cursor(self):
        raw = self.cleaned_data.get("cursor") or ""
        if not raw:
            return None
        try:
            value, pk = raw.rsplit("~", 1)
            pk = int(pk)
        except ValueError:
            raise forms.ValidationError(DAMAGED_CURSOR) from None
        if not 0 < pk < 2**63:
            raise forms.ValidationError(DAMAGED_CURSOR)
        return value, pk

    def clean(self):
        data = super().clean()
        cursor = data.get("cursor")
        if cursor:  # the value's type depends on the sort: check it here, not when querying
            try:
                data["cursor"] = (_parse_cursor_value(data.get("sort") or "received", cursor[0]), cursor[1])
            except forms.ValidationError as error:
                self.add_error("cursor", error)
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "Must be after “From”.")
        return data


def known_task_names() -> list[str]:
    """Names of the tasks this site defines (for the name filter's suggestions)."""
    from celery import current_app

    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


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
        qs = _launch_filter(qs, queue=data["queue"])
    if data.get("launched_by"):
        user_id = get_user_model().objects.filter(username=data["launched_by"]).values_list("pk", flat=True).first()
        qs = _launch_filter(qs, launched_by_id=user_id) if user_id else qs.none()
    if data.get("q"):
        term = data["q"].strip()
        if UUID_LIKE.match(term):
            qs = qs.filter(task_id__startswith=term.lower())
        else:  # a substring scan: bounded like the counts
            qs = _within_window(qs, data).filter(
                Q(task_args__icontains=term) | Q(task_kwargs__icontains=term) | Q(result__icontains=term))
    return qs


SPARSE_LAUNCHES = 5000


def _launch_filter(qs, **lookup):
    """Filter by a TaskLaunch column. Few matching launches (a count capped at the threshold says so):
    fetch their ids and sort just those. Many: probe each row while walking the list's order, which
    stops after a page of matches. Either way a page costs milliseconds, not a scan of the table."""
    launches = TaskLaunch.objects.filter(**lookup)
    if launches[: SPARSE_LAUNCHES + 1].count() <= SPARSE_LAUNCHES:  # counts at most 5,001 index entries
        return qs.filter(task_id__in=launches.values("task_id"))
    return qs.filter(Exists(launches.filter(task_id=OuterRef("task_id"))))


def tasks_page(data: dict, size: int = PAGE_SIZE) -> tuple[list[TaskResult], str | None]:
    """One page of rows in the chosen order after the cursor, and the cursor of the next page."""
    sort = data.get("sort") or "received"
    if sort == "runtime":
        return _tasks_page_by_runtime(data, size)
    field = SORTS[sort]
    qs = filtered_tasks(data)
    if sort == "started":
        qs = qs.filter(date_started__isnull=False)
    elif sort == "finished":
        qs = qs.filter(status__in=states.READY_STATES)
    cursor = data.get("cursor")
    if cursor:
        value = cursor[0]
        # "<= value" first gives the database an upper bound to seek to; the OR settles ties by id.
        qs = qs.filter(Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(id__lt=cursor[1])))
    rows = list(qs.order_by(f"-{field}", "-id")[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = f"{_cursor_value(getattr(last, field))}~{last.pk}"
    return rows, next_cursor


def _tasks_page_by_runtime(data: dict, size: int) -> tuple[list[TaskResult], str | None]:
    """Slowest first: walk TaskLaunch's runtime index (set when each task finishes) and keep the
    launches whose TaskResult matches the filters (one indexed probe each), so a page costs the
    same at any depth. The cursor is (runtime, TaskLaunch id)."""
    launches = TaskLaunch.objects.filter(runtime__isnull=False).filter(
        Exists(filtered_tasks(data).filter(task_id=OuterRef("task_id"))))
    cursor = data.get("cursor")
    if cursor:
        seconds = cursor[0]
        launches = launches.filter(Q(runtime__lte=seconds) & (Q(runtime__lt=seconds) | Q(id__lt=cursor[1])))
    page = list(launches.order_by("-runtime", "-id").values_list("task_id", "runtime", "id")[: size + 1])
    next_cursor = None
    if len(page) > size:
        page = page[:size]
        next_cursor = f"{page[-1][1]}~{page[-1][2]}"
    rows = {row.task_id: row for row in TaskResult.objects.filter(task_id__in=[task_id for task_id, *_ in page])}
    return [rows[task_id] for task_id, *_ in page if task_id in rows], next_cursor


def state_counts(data: dict) -> list[tuple[str, int]]:
    """Counts per state for the current filter (ignoring the state filter itself), within the
    chosen date range or the last 24 hours."""
    qs = _within_window(filtered_tasks(data, include_state=False), data)
    counts = dict(qs.order_by().values_list("status").annotate(n=Count("id")))
    return [(state, counts.get(state, 0)) for state, _label in STATE_CHOICES[1:]]


COUNTS_CACHE_SECONDS = 10  # counts of a window that reaches the present
PAST_COUNTS_CACHE_SECONDS = 300  # of a window that ended over an hour ago: its tasks have finished
COUNTS_KEEP_SECONDS = 600  # older counts are still served while one request recounts
RECOUNT_LOCK_SECONDS = 60


def state_counts_cached(data: dict, *, compute: bool = True) -> list[tuple[str, int]] | None:
    """state_counts() through the shared cache, so that many open list pages refreshing their chips
    every 10 s cost one count per filter per period, never several at once: when the counts are due,
    one request recounts (a lock in the cache) while the others get the previous counts. With
    compute=False, only what is cached."""
    from django.core.cache import cache

    key = counts_cache_key(data)
    cached = cache.get(key)
    now = timezone.now()
    if cached is not None:
        counts, counted_at = cached
        if now - counted_at < timedelta(seconds=_counts_fresh_seconds(data, now)) or not compute:
            return counts
        if not cache.add(key + ":recount", 1, RECOUNT_LOCK_SECONDS):
            return counts  # another request is recounting
    elif not compute:
        return None
    try:
        counts = state_counts(data)
        cache.set(key, (counts, now), COUNTS_KEEP_SECONDS)
    finally:
        if cached is not None:
            cache.delete(key + ":recount")
    return counts


def counts_cache_key(data: dict) -> str:
    import hashlib

    relevant = {k: str(v) for k, v in sorted(data.items()) if k not in ("cursor", "sort", "state") and v}
    return "task-counts:v2:" + hashlib.sha1(repr(relevant).encode()).hexdigest()


def _counts_fresh_seconds(data: dict, now: datetime) -> int:
    end = data.get("date_to")
    return PAST_COUNTS_CACHE_SECONDS if end is not None and end < now - timedelta(hours=1) else COUNTS_CACHE_SECONDS


def scan_window(data: dict, now: datetime | None = None) -> tuple[datetime, datetime | None, bool]:
    """(start, end or None for now, clipped): the dates the counts and the text search read.

    No dates: the last 24 hours. Dates: the chosen ones, but at most the latest TASK_SCAN_MAX_DAYS
    of them (clipped=True), so no choice of dates makes them read the whole table."""
    now = now or timezone.now()
    date_from, date_to = data.get("date_from"), data.get("date_to")
    if not date_from and not date_to:
        return now - DEFAULT_WINDOW, None, False
    longest = timedelta(days=settings.TASK_SCAN_MAX_DAYS)
    earliest = (date_to or now) - longest
    if date_from is None or date_from < earliest:
        return earliest, date_to, True
    return date_from, date_to, False


def window_label(data: dict) -> str:
    start, end, clipped = scan_window(data)
    if not data.get("date_from") and not data.get("date_to"):
        return "in the last 24 hours"
    if not clipped:
        return "in the chosen dates"
    days = settings.TASK_SCAN_MAX_DAYS
    until = timezone.localtime(end).strftime("%Y-%m-%d %H:%M") if end else "now"
    return (f"from {timezone.localtime(start):%Y-%m-%d %H:%M} to {until}: the latest "
            f"{days} day{'s' if days != 1 else ''} of the chosen dates (counts and text search read at most that)")


def _within_window(qs, data: dict):
    start, end, _clipped = scan_window(data)
    qs = qs.filter(date_created__gte=start)
    return qs if end is None else qs.filter(date_created__lte=end)


def _cursor_value(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value.total_seconds()) if hasattr(value, "total_seconds") else str(value)


def _parse_cursor_value(sort: str, raw: str):
    try:
        if sort == "runtime":
            seconds = float(raw)  # exact, as stored: no timedelta rounding at page boundaries
            if not math.isfinite(seconds):
                raise ValueError(raw)
            return seconds
        value = datetime.fromisoformat(raw)
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    except (ValueError, OverflowError):
        raise forms.ValidationError(DAMAGED_CURSOR) from None
