"""The task list's one-column indexes carry the task's state (PostgreSQL's covering indexes), so the
state counts of a filtered window tally states from the index alone (an index-only scan), without
reading a table row per task.

Each of (date_created, id), (task_name, date_created, id), (worker, date_created, id) and
(periodic_task_name, date_created, id) is replaced by the same keys with `INCLUDE (status)`: the
pages use them exactly as before. `status` is indexed already (dash_tr_status_created), so a change
of state touched these indexes anyway, and a progress report, which changes no indexed column,
stays a HOT update. SQLite has no INCLUDE: there the indexes stay as they were.
"""

from django.db import migrations

from site_config.machinery.migrations import CreateIndexOnline, DropIndexOnline

TABLE = "django_celery_results_taskresult"
REPLACED = {  # old name: (new name, keys)
    "dash_tr_created_id": ("dash_tr_created_cover", "(date_created, id)"),
    "dash_tr_name_created": ("dash_tr_name_cover", "(task_name, date_created, id)"),
    "dash_tr_worker_created": ("dash_tr_worker_cover", "(worker, date_created, id)"),
    "dash_tr_periodic_created": ("dash_tr_periodic_cover", "(periodic_task_name, date_created, id)"),
}


class Migration(migrations.Migration):
    atomic = False  # indexes are built and dropped concurrently on PostgreSQL

    dependencies = [
        ("dashboard", "0021_launch_created_at_is_the_rows_date_created"),
    ]

    operations = [
        *(CreateIndexOnline(name=new, table=TABLE, columns=f"{keys} INCLUDE (status)", postgresql_only=True)
          for new, keys in REPLACED.values()),
        *(DropIndexOnline(name=old, table=TABLE, columns=keys, postgresql_only=True)
          for old, (_new, keys) in REPLACED.items()),
    ]
