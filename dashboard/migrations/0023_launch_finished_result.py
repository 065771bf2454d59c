"""A copy of each finished task's result on its launch, kept by the database, so the free-text
search finds a result through an index instead of reading its whole window
(dashboard.monitor.filters.text_search_q).

The task row's own `result` column cannot have that index: a running task's progress reports are
written there, and an index on it makes every report a full row rewrite (migration 0020). A result
stops changing once its task has ended (SUCCESS, FAILURE or REVOKED), so:

- A trigger copies it to `TaskLaunch.finished_result` whenever a task row reaches one of those states,
  inserted or updated, by whichever path: Celery's result backend, a worker's parent process that
  saw its child die, the lost-task sweep, a revocation. A progress report (an update of the result
  of a running task) does not match the trigger's condition, so nothing more is done for it, and
  the update stays HOT (tests/test_progress_write.py).
- The rows already there get their copy here, in batches of launches by id, each batch its own
  transaction (the migration is not atomic): minutes at ten million rows (docs/benchmarks.md).
- On PostgreSQL: a trigram index on the copy, built afterwards and concurrently; and statistics on
  the expressions the search compares (`UPPER(...)`), so the planner can tell a rare term from a
  common one (`CREATE STATISTICS`, PostgreSQL 14+): without them it guesses 0.5% of rows for any
  term, and the search takes the index for a word in every result.
"""

from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery

from site_config.machinery.migrations import CreateIndexOnline

BATCH = 20_000
FINISHED = "('SUCCESS', 'FAILURE', 'REVOKED')"  # celery.states.READY_STATES
COPY = "UPDATE dashboard_tasklaunch SET finished_result = NEW.result WHERE task_id = NEW.task_id"
TABLE = "django_celery_results_taskresult"

POSTGRESQL_TRIGGER = [
    f"""CREATE OR REPLACE FUNCTION dash_copy_finished_result() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN {COPY}; RETURN NULL; END $$""",
    f"""CREATE TRIGGER dash_tr_finished_insert AFTER INSERT ON {TABLE} FOR EACH ROW
        WHEN (NEW.status IN {FINISHED}) EXECUTE FUNCTION dash_copy_finished_result()""",
    f"""CREATE TRIGGER dash_tr_finished_update AFTER UPDATE OF status, result ON {TABLE} FOR EACH ROW
        WHEN (NEW.status IN {FINISHED} AND (OLD.status IS DISTINCT FROM NEW.status
                                            OR OLD.result IS DISTINCT FROM NEW.result))
        EXECUTE FUNCTION dash_copy_finished_result()""",
]
SQLITE_TRIGGER = [
    f"""CREATE TRIGGER dash_tr_finished_insert AFTER INSERT ON {TABLE} FOR EACH ROW
        WHEN NEW.status IN {FINISHED} BEGIN {COPY}; END""",
    f"""CREATE TRIGGER dash_tr_finished_update AFTER UPDATE OF status, result ON {TABLE} FOR EACH ROW
        WHEN NEW.status IN {FINISHED} AND (OLD.status IS NOT NEW.status OR OLD.result IS NOT NEW.result)
        BEGIN {COPY}; END""",
]
STATISTICS = [  # (name, expression, table), PostgreSQL
    ("launch_finished_result_upper", "UPPER(finished_result)", "dashboard_tasklaunch"),
    ("dash_tr_task_args_upper", "UPPER(task_args)", TABLE),
    ("dash_tr_task_kwargs_upper", "UPPER(task_kwargs)", TABLE),
    ("dash_tr_result_upper", "UPPER(result)", TABLE),
]


def create_trigger(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRESQL_TRIGGER if postgresql else SQLITE_TRIGGER:
        schema_editor.execute(statement)


def drop_trigger(apps, schema_editor):
    for name in ("dash_tr_finished_insert", "dash_tr_finished_update"):
        on_table = f" ON {TABLE}" if schema_editor.connection.vendor == "postgresql" else ""
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}{on_table}")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS dash_copy_finished_result()")


def copy_finished_results(apps, schema_editor):
    TaskLaunch = apps.get_model("dashboard", "TaskLaunch")
    TaskResult = apps.get_model("django_celery_results", "TaskResult")
    finished = TaskResult.objects.using(schema_editor.connection.alias).filter(status__in=["SUCCESS", "FAILURE", "REVOKED"])
    launches = TaskLaunch.objects.using(schema_editor.connection.alias)
    last = launches.aggregate(last=Max("pk"))["last"] or 0
    for start in range(0, last + 1, BATCH):
        launches.filter(pk__gte=start, pk__lt=start + BATCH, task_id__in=finished.values("task_id")).update(
            finished_result=Subquery(finished.filter(task_id=OuterRef("task_id")).values("result")[:1]))


def create_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, expression, table in STATISTICS:
            schema_editor.execute(f"CREATE STATISTICS IF NOT EXISTS {name} ON ({expression}) FROM {table}")
        for table in ("dashboard_tasklaunch", TABLE):  # what autovacuum would do, later
            schema_editor.execute(f"ANALYZE {table}")


def drop_statistics(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _expression, _table in STATISTICS:
            schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # batches commit one by one; the index is built concurrently on PostgreSQL

    dependencies = [
        ("dashboard", "0022_task_indexes_cover_the_state"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]

    operations = [
        migrations.AddField(model_name="tasklaunch", name="finished_result",
                            field=models.TextField(blank=True, null=True)),
        migrations.RunPython(create_trigger, drop_trigger),  # first: no task that ends meanwhile is missed
        migrations.RunPython(copy_finished_results, migrations.RunPython.noop, elidable=True),
        # The expression Django's icontains writes (UPPER(...) LIKE UPPER('%term%')), over the rows
        # that have a copy.
        CreateIndexOnline(name="launch_finished_result_trgm", table="dashboard_tasklaunch",
                          columns="USING gin (UPPER(finished_result) gin_trgm_ops) WHERE finished_result IS NOT NULL",
                          postgresql_only=True),
        migrations.RunPython(create_statistics, drop_statistics),
    ]
