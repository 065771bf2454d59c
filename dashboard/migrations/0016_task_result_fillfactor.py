"""Leave room on each page of the task table (PostgreSQL), so a progress report, which changes no
indexed column, can be written in place as a HOT update (site_config/machinery/results.py).

The setting applies to pages written from now on; `VACUUM FULL` or a dump and restore applies it to
existing pages, which a live site does not need (old rows are finished tasks, never updated again).
"""

from django.db import migrations

TABLE = "django_celery_results_taskresult"


def set_fillfactor(apps, schema_editor, value: int | None) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    if value is None:
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET (fillfactor)")
    else:
        schema_editor.execute(f"ALTER TABLE {TABLE} SET (fillfactor = {int(value)})")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0015_task_list_columns_and_preferences"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]

    operations = [
        migrations.RunPython(lambda apps, editor: set_fillfactor(apps, editor, 70),
                             lambda apps, editor: set_fillfactor(apps, editor, None)),
    ]
