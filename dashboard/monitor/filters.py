"""The task list's filters, sorting and keyset (cursor) pagination, shared by the page and its socket.

All filters live in the URL (GET), so a filtered list is linkable and the back button works. The
search box's fields (`name:`, `state:`, `worker:`, `args:`; `parse_search`) become the same filters
as the form's fields. Pages are fetched by cursor (the boundary row's sort values and id, as an
opaque token), never OFFSET, forwards or back, so page 500 costs what page 1 costs: with the
composite indexes from migration 0003, each single-column filter plus an order is one index range
scan, walked in either direction. `task_filter_queryset` is the whole filtered, ordered query for
the export service. The queue and "started by" filters are kept in TaskLaunch: in the order
received, the page walks TaskLaunch's (queue | launched_by, created_at) index, whose created_at is
the row's date_created (`_received_by_launch_rows`); in other orders, they fetch the few matching
ids when there are few, or probe rows while walking that order when there are many
(`_launch_filter`), so they too stop after one page of matches.

Sorting by runtime walks an index on TaskLaunch.runtime (TaskResult, which belongs to
django-celery-results, has no runtime column), written when each task finishes. Two things cannot
use an index on a table of millions (counting is proportional to what is counted; a substring
search reads every row): the state counts and the text search (free text and `args:`) therefore cover a bounded window,
whatever dates are given: the last 24 hours when none is chosen, else the chosen dates, of which at
most the latest TASK_SCAN_MAX_DAYS; the page says which. Within it, the counts are exact when they read
few rows and estimated otherwise ("about N" on the chip; `state_counts`). On PostgreSQL an `args:` search
uses trigram indexes (migration 0020); the free text also looks in the result: an ended task's in
the copy its launch keeps, indexed (migration 0023), a running one's in the row (`text_search_q`).
A search for a task id (or its first
characters) uses the index and covers all time. The counts are cached per filter and recounted by
one request at a time while the others are served the previous counts.
Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import shlex
from datetime import datetime, timedelta
from typing import NamedTuple

from celery import states
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_celery_results.models import TaskResult

from dashboard.models import TaskLaunch

PAGE_SIZE = 25
PAGE_SIZES = (25, 50, 100, 200)
DAMAGED_CURSOR = _("This page link is damaged; start again from the first page.")
DEFAULT_WINDOW = timedelta(hours=24)
STATE_CHOICES = [
    ("", _("Any state")), (states.PENDING, pgettext_lazy("celery state", "Pending")),
    (states.STARTED, pgettext_lazy("celery state", "Started")), ("PROGRESS", pgettext_lazy("celery state", "Progress")),
    (states.RETRY, pgettext_lazy("celery state", "Retry")), (states.SUCCESS, pgettext_lazy("celery state", "Success")),
    (states.FAILURE, pgettext_lazy("celery state", "Failure")), (states.REVOKED, pgettext_lazy("celery state", "Revoked")),
]
#: Each order's keyset: the columns it sorts by (then the id), each backed by a composite index from
#: migration 0003 ((task_name, date_created, id), (status, date_created, id), ...; on PostgreSQL the
#: one-column ones carry the state since migration 0022, for the counts), walked forwards or
#: backwards. "runtime" walks TaskLaunch's runtime index instead.
SORTS = {
    "received": ("date_created",),
    "started": ("date_started",),
    "finished": ("date_done",),
    "name": ("task_name", "date_created"),
    "state": ("status", "date_created"),
    "runtime": ("runtime",),
}
SORT_LABELS = {"received": _("Received"), "started": _("Started"), "finished": _("Finished"), "name": _("Name"),
               "state": _("State"), "runtime": _("Runtime")}
#: Dates and runtimes read best newest/slowest first; names and states A to Z.
DEFAULT_ORDER = {"received": "desc", "started": "desc", "finished": "desc", "runtime": "desc", "name": "asc",
                 "state": "asc"}
UUID_LIKE = re.compile(r"^[0-9a-fA-F-]{8,36}$")

SEARCH_FIELDS = ("name", "state", "worker", "args")
SEARCH_HELP = _('Fields: name:<task name> state:<failure, success, …> worker:<worker@host> args:<text in the '
                'arguments>, plus free text (a task id, or text in the args or result). Quote values with spaces: '
                'args:"two words". Text (args: and free text) is searched in the chosen dates (at most the latest '
                'week), else the last 24 h; a task id in all time.')


class SearchSyntaxError(ValueError):
    """A search the parser cannot read; the message names the problem for the page."""


def parse_search(text: str) -> dict:
    """Split a search into its fields (name:, state:, worker:, args:) and the free text left over.

    Returns {"name": ..., "state": ..., "worker": ..., "args": ..., "text": ...} with only the fields
    given (text always present, maybe ""). A word is a field only when it starts with letters then a
    colon, so times ("12:30") and ids stay free text; quote text that looks like a field.
    """
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:
        raise SearchSyntaxError(gettext("A quotation mark is not closed.")) from None
    found: dict[str, str] = {}
    free: list[str] = []
    for word, raw in zip(words, _raw_words(text), strict=False):
        match = FIELD_WORD.match(word)
        if not match or raw.startswith(('"', "'")):  # a quoted word is free text, colon or not
            free.append(word)
            continue
        field, value = match.group(1).lower(), match.group(2)
        if field not in SEARCH_FIELDS:
            raise SearchSyntaxError(gettext("Unknown field “%(field)s:”. Use name:, state:, worker: or args: "
                                            "(or put the text in quotes).") % {"field": match.group(1)})
        if field in found:
            raise SearchSyntaxError(gettext("%(field)s: is given twice; give it once.") % {"field": field})
        if not value.strip():
            raise SearchSyntaxError(gettext("%(field)s: needs a value, e.g. %(example)s.")
                                    % {"field": field, "example": f"{field}:{SEARCH_EXAMPLES[field]}"})
        if field == "state":
            state = value.strip().upper()
            if state not in SEARCH_STATES:
                raise SearchSyntaxError(gettext("state:%(value)s is not a state; use one of %(states)s.") % {
                    "value": value, "states": ", ".join(s.lower() for s in SEARCH_STATES)})
            value = state
        found[field] = value
    return {**found, "text": " ".join(free)}


FIELD_WORD = re.compile(r"^([A-Za-z_]+):(.*)$", re.DOTALL)
SEARCH_STATES = tuple(state for state, _label in STATE_CHOICES[1:])
SEARCH_EXAMPLES = {"name": "app.tasks.send_email_task", "state": "failure", "worker": "worker.1@host",
                   "args": "42"}


def _raw_words(text: str) -> list[str]:
    """The words as typed (quotes kept), to tell `"name:x"` (free text) from `name:x` (a field)."""
    return re.findall(r"""(?:[^\s"']+|"[^"]*"?|'[^']*'?)+""", text)


def query_without_state(params: QueryDict) -> str:
    """The list's query with no state in it (neither the State field nor a `state:` in the search):
    what a state chip adds its own state to, so a chip never contradicts the search."""
    params = params.copy()
    params.pop("state", None)
    if params.get("q"):
        params["q"] = re.sub(r"""(?i)(^|\s)state:("[^"]*"|'[^']*'|\S*)""", " ", params["q"]).strip()
        if not params["q"]:
            del params["q"]
    return params.urlencode()


class TaskFilterForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), choices=STATE_CHOICES, required=False)
    name = forms.CharField(required=False, max_length=255, label=_("Task name"),
                           widget=forms.TextInput(attrs={"list": "task-names", "autocomplete": "off"}))
    worker = forms.CharField(label=_("Worker"), required=False, max_length=255)
    queue = forms.CharField(label=_("Queue"), required=False, max_length=200)
    launched_by = forms.CharField(required=False, max_length=150, label=_("Started by"))
    periodic = forms.CharField(required=False, max_length=255, label=_("Schedule"))
    date_from = forms.DateTimeField(required=False, label=_("From"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    date_to = forms.DateTimeField(required=False, label=_("To"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    q = forms.CharField(required=False, max_length=300, label=_("Search"), help_text=SEARCH_HELP,
                        widget=forms.TextInput(attrs={"placeholder": _("state:failure name:… args:… or a task id")}))
    sort = forms.ChoiceField(label=_("Sort"), choices=list(SORT_LABELS.items()), required=False, initial="received")
    order = forms.ChoiceField(label=_("Order"), choices=[("", _("Usual order")), ("desc", _("Newest / Z first")),
                                                       ("asc", _("Oldest / A first"))],
                              required=False)
    cursor = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def more_filters_open(self) -> bool:
        """Whether the fields behind "More filters" show on a phone: open when one is set or refused."""
        fields = [name for name in self.fields if name not in ("q", "cursor")]
        return any(self[name].value() for name in fields) or any(name in self.errors for name in fields)

    def clean(self):
        data = super().clean()
        sort = data.get("sort") or "received"
        data["sort"] = sort
        data["order"] = data.get("order") or DEFAULT_ORDER[sort]
        if data.get("cursor"):  # the keyset's types depend on the sort: checked here, not when querying
            try:
                data["cursor"] = decode_cursor(data["cursor"], sort=sort, order=data["order"])
            except forms.ValidationError as error:
                self.add_error("cursor", error)
        else:
            data["cursor"] = None
        data["args"], data["text"] = "", (data.get("q") or "").strip()
        if data["text"]:
            self._clean_search(data)
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", gettext("Must be after “From”."))
        return data

    def _clean_search(self, data: dict) -> None:
        """The search's fields become the same filters as the form's own fields (and their indexes)."""
        try:
            parsed = parse_search(data["text"])
        except SearchSyntaxError as error:
            self.add_error("q", str(error))
            return
        for field in ("name", "state", "worker"):
            if field not in parsed:
                continue
            if data.get(field) and data[field] != parsed[field]:
                label = self.fields[field].label or field.capitalize()
                self.add_error("q", gettext("%(search)s differs from the %(label)s filter (%(value)s); use one of them.")
                               % {"search": f"{field}:{parsed[field]}", "label": label, "value": data[field]})
                return
            data[field] = parsed[field]
        data["args"], data["text"] = parsed.get("args", "").strip(), parsed["text"]


class TaskFiltersInvalid(forms.ValidationError):
    """The GET parameters of a task list URL do not make a valid filter; `form` holds the details."""

    def __init__(self, form: TaskFilterForm):
        self.form = form
        super().__init__([f"{form.fields[name].label or name}: {error}" if name != "__all__" else error
                          for name, errors in form.errors.items() for error in errors])


def task_filter_queryset(params) -> QuerySet[TaskResult]:
    """Every TaskResult the task list shows for these GET parameters (a QueryDict or a plain dict of
    the list URL's query: filters, search, sort and order; page size and cursor are ignored), in the
    list's order, not paged. The export service's entry point for "CSV of the current filter";
    the page builds its keyset pages from the same query (`tasks_queryset`).

    Raises TaskFiltersInvalid (a ValidationError whose messages name each bad parameter)."""
    if not isinstance(params, QueryDict):
        query = QueryDict(mutable=True)
        for key, value in dict(params).items():
            query.setlist(key, value if isinstance(value, (list, tuple)) else [value])
        params = query
    form = TaskFilterForm(params)
    if not form.is_valid():
        raise TaskFiltersInvalid(form)
    data = form.cleaned_data
    qs = tasks_queryset(data)
    if data["sort"] == "runtime":  # the page walks TaskLaunch; an export orders by the same value
        runtime = TaskLaunch.objects.filter(task_id=OuterRef("task_id")).values("runtime")[:1]
        qs = qs.annotate(runtime=Subquery(runtime)).filter(runtime__isnull=False)
        descending = data["order"] == "desc"
        return qs.order_by(*(("-" if descending else "") + column for column in ("runtime", "id")))
    return qs.order_by(*_ordering(data["sort"], data["order"] == "desc"))


def known_task_names() -> list[str]:
    """Names of the tasks this site defines (for the name filter's suggestions)."""
    from celery import current_app

    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def launch_lookup(data: dict) -> dict | None:
    """The TaskLaunch columns the cleaned filters ask for (the queue, who started it), or None when
    they ask for neither. An unknown person matches nothing ({"pk__in": []})."""
    lookup = {}
    if data.get("queue"):
        lookup["queue"] = data["queue"]
    if data.get("launched_by"):
        user_id = get_user_model().objects.filter(username=data["launched_by"]).values_list("pk", flat=True).first()
        if user_id is None:
            return {"pk__in": []}
        lookup["launched_by_id"] = user_id
    return lookup or None


def filtered_tasks(data: dict, *, include_state: bool = True, include_launch: bool = True, one_by_one: bool = False):
    """TaskResult rows matching the cleaned filters (not ordered, not paged). With
    include_launch=False, the filters kept in TaskLaunch (queue, who started it) are left to the
    caller. one_by_one=True: the caller asks about one row at a time (a socket deciding whether a
    pushed row belongs to its list), so a text search tests that row's text, never the indexes'
    sets of ids, which cost the same however few rows are asked about."""
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
    lookup = launch_lookup(data) if include_launch else None
    if lookup is not None:
        qs = _launch_filter(qs, **lookup)
    term = data.get("text", "")
    if term and UUID_LIKE.match(term):
        qs = qs.filter(task_id__startswith=term.lower())
    elif term or data.get("args"):  # a substring scan: bounded like the counts
        qs = _within_window(qs, data)
        if term:
            qs = qs.filter(_in_row_text(term) if one_by_one else text_search_q(term, data))
        if data.get("args"):
            qs = qs.filter(_in_arguments(data["args"]))
    return qs


#: How a task without keyword arguments stores them (Celery's repr, JSON-encoded or not). A search
#: skips them, which matches what the trigram index on task_kwargs covers (migration 0020).
EMPTY_KWARGS = ('"{}"', "{}")


def _in_arguments(term: str) -> Q:
    return Q(task_args__icontains=term) | (Q(task_kwargs__icontains=term) & ~Q(task_kwargs__in=EMPTY_KWARGS))


def _in_row_text(term: str) -> Q:
    return _in_arguments(term) | Q(result__icontains=term)


def text_search_q(term: str, data: dict) -> Q:
    """Rows of the window holding `term` in their arguments or result, found one of two ways, by how
    many rows PostgreSQL's planner expects to match (`EXPLAIN`, nothing read; the expressions have
    statistics of their own, migration 0023).

    Few (DENSE_TEXT_MATCHES at most): a walk of the list's order would read most of the window to
    find them, so the matching ids come from three searches, each with its index, and the page
    fetches just those rows: the arguments (trigram indexes, migration 0020); an ended task's
    result, in the copy its launch keeps (a trigram index, migration 0023); a running or waiting
    task's result in the row itself, by state (its progress is written there, a column that must
    stay unindexed so that those updates are HOT, docs/benchmarks.md; few rows are in those
    states). Many, or no estimate (SQLite): the walk tests each row's text; matches are dense, so a
    page of them is found after a few thousand rows. Either way the same rows match."""
    rows = _within_window(TaskResult.objects.order_by(), data)
    start, end, _clipped = scan_window(data)
    launches = TaskLaunch.objects.filter(created_at__gte=start, finished_result__icontains=term)
    if end is not None:
        launches = launches.filter(created_at__lte=end)
    in_arguments = rows.filter(_in_arguments(term))
    in_ended_result = rows.filter(task_id__in=launches.values("task_id"))
    in_running_result = rows.filter(status__in=UNENDED_STATES, result__icontains=term)
    estimates = [planner_estimate(qs) for qs in (in_arguments, launches, in_running_result)]
    if None in estimates or sum(estimates) > DENSE_TEXT_MATCHES:
        return _in_row_text(term)
    return Q(pk__in=in_arguments.values("pk").union(in_ended_result.values("pk"), in_running_result.values("pk")))


#: Above this many expected matches in the window the free text walks the rows (text_search_q).
DENSE_TEXT_MATCHES = 5000
#: The states of a task that has not ended (Celery's and this site's PROGRESS): its result is read
#: from the row, where progress is written; an ended task's from its launch's copy.
UNENDED_STATES = sorted((set(states.ALL_STATES) | {"PROGRESS"}) - set(states.READY_STATES))


def is_text_search(data: dict) -> bool:
    """Whether the rows were found by a substring scan (bounded to the search window)."""
    term = data.get("text", "")
    return bool(data.get("args")) or (bool(term) and not UUID_LIKE.match(term))


SPARSE_LAUNCHES = 5000


def _launch_filter(qs, **lookup):
    """Filter by a TaskLaunch column. Few matching launches (a count capped at the threshold says so):
    fetch their ids and sort just those. Many: probe each row while walking the list's order, which
    stops after a page of matches. Either way a page costs milliseconds, not a scan of the table."""
    launches = TaskLaunch.objects.filter(**lookup)
    if launches[: SPARSE_LAUNCHES + 1].count() <= SPARSE_LAUNCHES:  # counts at most 5,001 index entries
        return qs.filter(task_id__in=launches.values("task_id"))
    return qs.filter(Exists(launches.filter(task_id=OuterRef("task_id"))))


class Page(NamedTuple):
    rows: list[TaskResult]
    next_cursor: str | None  # older (or later in the chosen order)
    previous_cursor: str | None  # back towards the first page; None on the first page


def tasks_queryset(data: dict) -> QuerySet[TaskResult]:
    """The rows of the cleaned filters that the chosen sort can order (not ordered, not paged)."""
    qs = filtered_tasks(data)
    sort = data.get("sort") or "received"
    if sort == "started":
        qs = qs.filter(date_started__isnull=False)
    elif sort == "finished":
        qs = qs.filter(status__in=states.READY_STATES)
    elif sort == "name":
        qs = qs.filter(task_name__isnull=False)
    return qs


def tasks_page(data: dict, size: int = PAGE_SIZE) -> Page:
    """One page of rows in the chosen sort and order, after (or, for a "previous" cursor, before)
    the cursor, with the cursors of the pages on either side.

    Keyset both ways: a page after the cursor walks the index in the chosen direction from the
    cursor's row; a page before it walks the other way and is turned round, so either costs one
    index range of size + 1 rows at any depth."""
    sort = data.get("sort") or "received"
    order = data.get("order") or DEFAULT_ORDER[sort]
    cursor: Cursor | None = data.get("cursor")
    backwards = cursor is not None and cursor.direction == "previous"
    descending = (order == "desc") != backwards
    lookup = launch_lookup(data) if sort == "received" else None
    if sort == "runtime":
        rows, keys, more = _runtime_rows(data, cursor, descending, size)
    elif lookup is not None:
        rows, keys, more = _received_by_launch_rows(data, lookup, cursor, descending, size)
    else:
        qs = tasks_queryset(data)
        if cursor:
            qs = _after(qs, TaskResult, (*SORTS[sort], "id"), cursor.key, descending)
        rows = list(qs.order_by(*_ordering(sort, descending))[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        keys = [tuple(getattr(row, column) for column in (*SORTS[sort], "id")) for row in rows]
    if backwards:
        rows.reverse()
        keys.reverse()
    has_next = True if backwards else more
    has_previous = more if backwards else cursor is not None
    return Page(
        rows,
        encode_cursor(sort, order, "next", keys[-1]) if has_next and keys else None,
        encode_cursor(sort, order, "previous", keys[0]) if has_previous and keys else None,
    )


def _ordering(sort: str, descending: bool) -> list[str]:
    return [("-" if descending else "") + column for column in (*SORTS[sort], "id")]


def _after(qs, model, columns: tuple[str, ...], key: tuple, descending: bool):
    """Rows strictly after `key` in the walk's direction: a row-value comparison, which SQLite and
    PostgreSQL both turn into one seek in the matching composite index (an OR of per-column
    conditions would make them scan the rows that share the first column's value)."""
    table = connection.ops.quote_name(model._meta.db_table)
    fields = [model._meta.get_field(column) for column in columns]
    names = ", ".join(f"{table}.{connection.ops.quote_name(field.column)}" for field in fields)
    placeholders = ", ".join("%s" for _ in fields)
    params = [field.get_db_prep_value(value, connection) for field, value in zip(fields, key, strict=True)]
    return qs.extra(where=[f"({names}) {'<' if descending else '>'} ({placeholders})"], params=params)


def _runtime_rows(data: dict, cursor, descending: bool, size: int):
    """Slowest (or quickest) first: walk TaskLaunch's runtime index (set when each task finishes)
    and keep the launches whose TaskResult matches the filters (one indexed probe each), so a page
    costs the same at any depth. The key is (runtime, TaskLaunch id)."""
    launches = TaskLaunch.objects.filter(runtime__isnull=False).filter(
        Exists(filtered_tasks(data).filter(task_id=OuterRef("task_id"))))
    return _launch_walk(launches, "runtime", cursor, descending, size)


def _received_by_launch_rows(data: dict, lookup: dict, cursor, descending: bool, size: int):
    """Filtered by queue or by who started them, in the order received: walk TaskLaunch's
    (queue | launched_by, created_at) index, whose created_at is its task row's date_created, and
    keep the launches whose TaskResult matches the other filters (one indexed probe each). However
    rare the queue or the person, a page costs one index range, at any depth. The key is
    (created_at, TaskLaunch id)."""
    launches = TaskLaunch.objects.filter(**lookup).filter(
        Exists(filtered_tasks(data, include_launch=False).filter(task_id=OuterRef("task_id"))))
    if data.get("date_from"):  # the same instants as the rows' date_created: the walk starts and stops there
        launches = launches.filter(created_at__gte=data["date_from"])
    if data.get("date_to"):
        launches = launches.filter(created_at__lte=data["date_to"])
    return _launch_walk(launches, "created_at", cursor, descending, size)


def _launch_walk(launches, column: str, cursor, descending: bool, size: int):
    """One page of `launches` in (column, id) order after the cursor, and their TaskResult rows:
    (rows, keys, whether more follow)."""
    if cursor:
        launches = _after(launches, TaskLaunch, (column, "id"), cursor.key, descending)
    direction = "-" if descending else ""
    page = list(launches.order_by(f"{direction}{column}", f"{direction}id")
                .values_list("task_id", column, "id")[: size + 1])
    more = len(page) > size
    page = page[:size]
    by_id = {row.task_id: row for row in TaskResult.objects.filter(task_id__in=[task_id for task_id, *_ in page])}
    kept = [(by_id[task_id], (value, pk)) for task_id, value, pk in page if task_id in by_id]
    return [row for row, _key in kept], [key for _row, key in kept], more


class Cursor(NamedTuple):
    direction: str  # "next" or "previous"
    key: tuple  # the sort columns' values and the id of the row the page starts after


def encode_cursor(sort: str, order: str, direction: str, key: tuple) -> str:
    """An opaque page link token: base64 of the sort, order, direction and the boundary row's key.
    Not signed: any well-formed key only positions a page (the filters still decide which rows)."""
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    payload = json.dumps([sort, order, direction[0], values], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(token: str, *, sort: str, order: str) -> Cursor:
    """The Cursor of a token made by encode_cursor for this sort and order, else a ValidationError
    that says the link is damaged (the page answers 400 with it, never 500)."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        token_sort, token_order, direction, values = payload
    except (ValueError, TypeError, binascii.Error):
        raise forms.ValidationError(DAMAGED_CURSOR) from None
    columns = SORTS[sort]
    if (token_sort, token_order) != (sort, order) or direction not in ("n", "p") or not isinstance(values, list) \
            or len(values) != len(columns) + 1:
        raise forms.ValidationError(DAMAGED_CURSOR)
    *raw_values, pk = values
    if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk < 2**63:
        raise forms.ValidationError(DAMAGED_CURSOR)
    key = tuple(_parse_key_value(column, raw) for column, raw in zip(columns, raw_values, strict=True)) + (pk,)
    return Cursor("next" if direction == "n" else "previous", key)


def _parse_key_value(column: str, raw):
    try:
        if column == "runtime":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise ValueError(raw)
            return float(raw)  # exact, as stored: no timedelta rounding at page boundaries
        if not isinstance(raw, str) or len(raw) > 255:
            raise ValueError(raw)
        if column in ("task_name", "status"):
            return raw
        value = datetime.fromisoformat(raw)
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    except (ValueError, OverflowError):
        raise forms.ValidationError(DAMAGED_CURSOR) from None


#: The counts read at most this many rows of the window, in one pass that tallies every state: a
#: window with fewer is counted exactly. A larger one would cost a read of every row (a busy site
#: starts hundreds of thousands of tasks a day), so each state is then estimated by PostgreSQL's
#: planner from its statistics ("about N" on the chip), and counted exactly only when that
#: estimate is at most EXACT_COUNT_LIMIT (a count that stops there). SQLite keeps no statistics:
#: there a state above EXACT_COUNT_LIMIT reads "more than N".
WINDOW_COUNT_LIMIT = 20_000
EXACT_COUNT_LIMIT = 1000


class StateCount(NamedTuple):
    state: str
    count: int
    #: "exact"; "about" (the planner's estimate, rounded); "over" (more than `count`)
    kind: str


#: Filtered by queue or by who started them, the window's launches are counted (TaskLaunch's index),
#: and each costs a read of its task row for its state: up to this many are read, for exact counts;
#: beyond, the newest LAUNCH_SAMPLE of them give each state's share, said as "about".
LAUNCH_EXACT_LIMIT = 2000
LAUNCH_SAMPLE = 1000


def state_counts(data: dict) -> list[StateCount]:
    """Tasks per state for the current filter (ignoring the state filter itself), within the chosen
    date range or the last 24 hours: exact where that reads few rows, else estimated."""
    lookup = launch_lookup(data)
    if lookup is not None:
        return _launch_state_counts(data, lookup)
    exact = _window_counts(data)
    if exact is not None:
        return [StateCount(state, exact.get(state, 0), "exact") for state, _label in STATE_CHOICES[1:]]
    base = _within_window(filtered_tasks(data, include_state=False), data).order_by()
    counts = []
    for state, _label in STATE_CHOICES[1:]:
        of_state = base.filter(status=state)
        estimate = planner_estimate(of_state)
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            counts.append(StateCount(state, _two_figures(estimate), "about"))
            continue
        exact = of_state[: EXACT_COUNT_LIMIT + 1].count()  # no statistics, or a small estimate
        if exact <= EXACT_COUNT_LIMIT:
            counts.append(StateCount(state, exact, "exact"))
        else:  # SQLite, or statistics that lag behind
            counts.append(StateCount(state, EXACT_COUNT_LIMIT, "over"))
    return counts


def _window_counts(data: dict) -> dict[str, int] | None:
    """Exact counts per state of the filtered window, tallied from at most WINDOW_COUNT_LIMIT + 1
    rows (on PostgreSQL an index-only scan of a covering index, migration 0022), or None when the
    window holds more."""
    rows = _within_window(filtered_tasks(data, include_state=False), data).order_by()
    counts = _tally(rows.values("status")[: WINDOW_COUNT_LIMIT + 1])
    return counts if sum(counts.values()) <= WINDOW_COUNT_LIMIT else None


def _launch_state_counts(data: dict, lookup: dict) -> list[StateCount]:
    """Counts per state of the window's tasks of this queue or person, from their launches (whose
    created_at is the row's date_created): exact for up to LAUNCH_EXACT_LIMIT launches, else each
    state's share of the newest LAUNCH_SAMPLE launches times their number."""
    start, end, _clipped = scan_window(data)
    launches = TaskLaunch.objects.filter(**lookup, created_at__gte=start)
    if end is not None:
        launches = launches.filter(created_at__lte=end)
    total = launches[: WINDOW_COUNT_LIMIT + 1].count()  # an index-only count
    # No date condition on the task rows: the launches' dates are theirs, and with one the planner
    # would rather read the whole window's rows than the few launched ones.
    rows = filtered_tasks(data, include_state=False, include_launch=False).order_by()
    if total <= LAUNCH_EXACT_LIMIT:
        exact = _tally(rows.filter(task_id__in=launches.values("task_id")).values("status"))
        return [StateCount(state, exact.get(state, 0), "exact") for state, _label in STATE_CHOICES[1:]]
    if total > WINDOW_COUNT_LIMIT:
        total = max(total, planner_estimate(launches) or 0)
    newest = launches.order_by("-created_at").values("task_id")[:LAUNCH_SAMPLE]
    sample = _tally(rows.filter(task_id__in=newest).values("status"))
    return [StateCount(state, _two_figures(round(total * sample.get(state, 0) / LAUNCH_SAMPLE)), "about")
            for state, _label in STATE_CHOICES[1:]]


def _tally(statuses: QuerySet) -> dict[str, int]:
    """{state: rows} of a query of statuses (`.values("status")`, sliced or not), counted by the
    database."""
    try:
        sql, params = statuses.query.sql_with_params()
    except EmptyResultSet:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status, COUNT(*) FROM ({sql}) AS counted GROUP BY status", params)
        return dict(cursor.fetchall())


def planner_estimate(qs) -> int | None:
    """How many rows PostgreSQL's planner expects `qs` to return (EXPLAIN, nothing is read), or None
    on a database without such estimates."""
    if connection.vendor != "postgresql":
        return None
    sql, params = qs.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def _two_figures(number: int) -> int:
    """An estimate said with the precision it has: 283,417 -> 280,000."""
    digits = len(str(number))
    return round(number, 2 - digits) if digits > 2 else number


COUNTS_CACHE_SECONDS = 10  # counts of a window that reaches the present
PAST_COUNTS_CACHE_SECONDS = 300  # of a window that ended over an hour ago: its tasks have finished
COUNTS_KEEP_SECONDS = 600  # older counts are still served while one request recounts
RECOUNT_LOCK_SECONDS = 60


def state_counts_cached(data: dict, *, compute: bool = True) -> list[StateCount] | None:
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

    relevant = {k: str(v) for k, v in sorted(data.items()) if k not in ("cursor", "sort", "order", "state", "q") and v}
    return "task-counts:v3:" + hashlib.sha1(repr(relevant).encode()).hexdigest()


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
        return gettext("in the last 24 hours")
    if not clipped:
        return gettext("in the chosen dates")
    days = settings.TASK_SCAN_MAX_DAYS
    until = timezone.localtime(end).strftime("%Y-%m-%d %H:%M") if end else gettext("now")
    return ngettext(
        "from %(start)s to %(until)s: the latest %(days)d day of the chosen dates (counts and text search read at most that)",
        "from %(start)s to %(until)s: the latest %(days)d days of the chosen dates (counts and text search read at most that)",
        days,
    ) % {"start": f"{timezone.localtime(start):%Y-%m-%d %H:%M}", "until": until, "days": days}


def _within_window(qs, data: dict):
    start, end, _clipped = scan_window(data)
    qs = qs.filter(date_created__gte=start)
    return qs if end is None else qs.filter(date_created__lte=end)
