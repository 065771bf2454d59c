"""Trigram indexes for the task list's text search on PostgreSQL.

The free-text search and `args:` match a substring (`icontains`, which Django writes as
`UPPER(column::text) LIKE UPPER('%term%')`): without an index, that reads every row of the search
window. pg_trgm's GIN indexes on the same `UPPER(column)` expressions find the rows holding the
term's three-letter pieces first, so the search reads only those. pg_trgm ships with PostgreSQL and
is a trusted extension (PostgreSQL 13 and later): the database's owner may create it. SQLite, the
embedded default, keeps the bounded scan (docs/task-monitor.md, docs/benchmarks.md).
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
        *(CreateIndexOnline(name=f"dash_tr_{column}_trgm", table=TABLE,
                            columns=f"USING gin (UPPER({column}) gin_trgm_ops)", postgresql_only=True)
          for column in ("task_args", "task_kwargs", "result")),
    ]
