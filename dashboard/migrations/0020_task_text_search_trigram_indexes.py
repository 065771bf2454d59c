"""Trigram indexes for the task list's text search on PostgreSQL.

The free-text search and `args:` match a substring (`icontains`, which Django writes as
`UPPER(column::text) LIKE UPPER('%term%')`): without an index, that reads every row of the search
window. pg_trgm's GIN indexes on the same `UPPER(column)` expressions find the rows holding the
term's three-letter pieces first, so the search reads only those. pg_trgm ships with PostgreSQL and
is a trusted extension (PostgreSQL 13 and later): the database's owner may create it. SQLite, the
embedded default, keeps the bounded scan (docs/task-monitor.md, docs/benchmarks.md).

Not `result`: a running task's progress reports are stored in it, up to five times a second, and
PostgreSQL can update a row in place (a HOT update, tests/test_progress_write.py) only when no
indexed column changes. An index on `result` made every report write a new row version and an
entry in every index of the table: 3,600 bytes of write-ahead log per report instead of 234
(bench/progress_live_bench.py, docs/benchmarks.md). The free-text search, which also looks in the
result, therefore still reads its window; `args:` is answered by the indexes.
"""

from django.db import migrations

from site_config.machinery.migrations import CreateIndexOnline, TrigramExtensionOnPostgreSQL

TABLE = "django_celery_results_taskresult"


class Migration(migrations.Migration):
    atomic = False  # indexes are built concurrently on PostgreSQL (site_config/machinery/migrations.py)

    dependencies = [
        ("dashboard", "0019_schedule_headers_without_request_id"),
    ]

    operations = [
        TrigramExtensionOnPostgreSQL(),
        CreateIndexOnline(name="dash_tr_task_args_trgm", table=TABLE,
                          columns="USING gin (UPPER(task_args) gin_trgm_ops)", postgresql_only=True),
        # Over non-empty keyword arguments only, with the very condition the search adds
        # (dashboard.monitor.filters.EMPTY_KWARGS): most tasks have none, and over a column of
        # nearly all "{}" the planner so overestimates the cost of a full index that it reads the
        # whole search window instead (245 ms against 11 ms at ten million rows).
        CreateIndexOnline(name="dash_tr_task_kwargs_trgm", table=TABLE,
                          columns="USING gin (UPPER(task_kwargs) gin_trgm_ops) "
                                  """WHERE NOT (task_kwargs IN ('"{}"', '{}') AND task_kwargs IS NOT NULL)""",
                          postgresql_only=True),
    ]
