"""The task list's queries and the fragments its page and socket share: the rows of a (filtered)
first page, the "N new tasks" bar, the filters of a list URL."""

from __future__ import annotations

from django.http import QueryDict
from django.template.loader import render_to_string

from dashboard.live.state import TaskView
from dashboard.models import TaskLaunch
from dashboard.monitor.filters import PAGE_SIZE, TaskFilterForm, filtered_tasks, tasks_page


def task_views(rows) -> list[TaskView]:
    """Views of TaskResult rows with who launched each (two queries whatever the page size)."""
    rows = list(rows)
    launches = TaskLaunch.objects.select_related("launched_by").filter(task_id__in=[r.task_id for r in rows])
    by_id = {launch.task_id: launch for launch in launches}
    return [TaskView.from_row(row, by_id.get(row.task_id)) for row in rows]



def task_rows_snapshot(query_string: str = "", size: int = PAGE_SIZE) -> tuple[str, list[str]]:
    """The first page of the (filtered) list as the rows partial, and its task ids: the list
    socket's snapshot (it also clears the "new tasks" bar). `size` is the watcher's page size.
    Every optional column is rendered; the page's table shows the ones its reader chose."""
    form = TaskFilterForm(QueryDict(query_string))
    data = form.cleaned_data if form.is_valid() else {}
    data = {**data, "cursor": None}
    rows = tasks_page(data, size=size).rows
    html = render_to_string("dashboard/monitor/list.html#rows-message", {"tasks": task_views(rows)})
    return html + render_new_tasks_bar(0, query_string), [row.task_id for row in rows]



def render_new_tasks_bar(count: int, query_string: str) -> str:
    return render_to_string("dashboard/monitor/list.html#new-bar", {"new_count": count, "base_query": query_string})



FILTER_FIELDS = ("state", "name", "worker", "queue", "launched_by", "periodic", "date_from", "date_to", "q")



def list_filters(query_string: str) -> dict:
    """The cleaned filters of a list URL (empty when invalid); no database access."""
    form = TaskFilterForm(QueryDict(query_string))
    if not form.is_valid():
        return {}
    return {name: form.cleaned_data[name] for name in FILTER_FIELDS if form.cleaned_data.get(name)}



def list_queryset(query_string: str):
    """The rows a list URL filters to (None when its filters are invalid): built once per socket,
    which asks it about one pushed row at a time."""
    form = TaskFilterForm(QueryDict(query_string))
    return filtered_tasks(form.cleaned_data, one_by_one=True) if form.is_valid() else None

