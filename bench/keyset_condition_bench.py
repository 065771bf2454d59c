"""Benchmark: the task list's keyset condition, the previous form against the row-value comparison.

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python bench/keyset_condition_bench.py
    (a database filled by bench/task_monitor_bench.py is reused; otherwise ROWS rows are created)

In one process, interleaved, 40 times each, in CPU time (time.process_time: far less disturbed than
wall time by other processes on a shared machine): the query of page 500 (newest first) with
`date <= c AND (date < c OR id < i)`, as the list used before it could page backwards, against
`(date, id) < (c, i)`, which it uses now. Both must return the same rows. Prints a table in ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import _setup  # noqa: F401  (private Redis, temporary database, Django settings)
from _setup import migrate

ROWS = int(os.environ.get("ROWS", "1000000"))
REPEAT = int(os.environ.get("REPEAT", "40"))


def main() -> None:
    migrate()
    import django

    django.setup()
    from django.db.models import Q
    from django_celery_results.models import TaskResult

    from dashboard.monitor.filters import SORTS, TaskFilterForm, _after, _ordering, tasks_queryset

    if TaskResult.objects.count() < ROWS:
        from task_monitor_bench import NAMES, populate

        populate(ROWS)
    else:
        from task_monitor_bench import NAMES

    def previous_form(data, field, value, pk):
        qs = tasks_queryset(data).filter(Q(**{f"{field}__lte": value}) & (Q(**{f"{field}__lt": value}) | Q(id__lt=pk)))
        return list(qs.order_by(f"-{field}", "-id")[:26])

    def row_value(data, key):
        sort = data["sort"]
        qs = _after(tasks_queryset(data), TaskResult, (*SORTS[sort], "id"), key, True)
        return list(qs.order_by(*_ordering(sort, True))[:26])

    print(f"\n{ROWS:,} rows, page 500, median of {REPEAT} (ms CPU)\n")
    print("| filter | previous condition | row value |")
    print("|---|---|---|")
    for label, params in (("no filter", {}), ("state=FAILURE", {"state": "FAILURE"}), ("task name", {"name": NAMES[3]}),
                          ("sort finished", {"sort": "finished"})):
        form = TaskFilterForm({**params, "order": "desc"})
        assert form.is_valid(), form.errors
        data = form.cleaned_data
        field = SORTS[data["sort"]][0]
        boundary = tasks_queryset(data).order_by(*_ordering(data["sort"], True))[499 * 25 - 1: 499 * 25].first()
        key = (getattr(boundary, field), boundary.pk)
        assert [r.pk for r in previous_form(data, field, *key)] == [r.pk for r in row_value(data, key)]
        before, after = [], []
        for _ in range(REPEAT):
            start = time.process_time()
            previous_form(data, field, *key)
            before.append((time.process_time() - start) * 1000)
            start = time.process_time()
            row_value(data, key)
            after.append((time.process_time() - start) * 1000)
        print(f"| {label} | {statistics.median(before):.2f} | {statistics.median(after):.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
