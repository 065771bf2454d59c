"""A copy of each successful task's result on its launch, with a trigram index on PostgreSQL, so the
free-text search finds a result without reading its whole window (dashboard.monitor.filters).

The copy is written once, when the task finishes (dashboard.live.store.record_finished). The rows
already there get theirs here, in batches of launches by id, each batch its own transaction (the
migration is not atomic): at ten million rows this takes minutes, during which the site runs on
(docs/benchmarks.md). The index is built after the copy, concurrently.
"""

from django.db import migrations, models
from django.db.models import Max, Subquery

from site_config.machinery.migrations import CreateIndexOnline

BATCH = 20_000


def copy_successful_results(apps, schema_editor):
    TaskLaunch = apps.get_model("dashboard", "TaskLaunch")
    TaskResult = apps.get_model("django_celery_results", "TaskResult")
    succeeded = TaskResult.objects.using(schema_editor.connection.alias).filter(status="SUCCESS")
    launches = TaskLaunch.objects.using(schema_editor.connection.alias)
    last = launches.aggregate(last=Max("pk"))["last"] or 0
    for start in range(0, last + 1, BATCH):
        launches.filter(pk__gte=start, pk__lt=start + BATCH, task_id__in=succeeded.values("task_id")).update(
            finished_result=Subquery(succeeded.filter(task_id=models.OuterRef("task_id")).values("result")[:1]))


class Migration(migrations.Migration):
    atomic = False  # batches commit one by one; the index is built concurrently on PostgreSQL

    dependencies = [
        ("dashboard", "0022_task_indexes_cover_the_state"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]

    operations = [
        migrations.AddField(model_name="tasklaunch", name="finished_result",
                            field=models.TextField(blank=True, null=True)),
        migrations.RunPython(copy_successful_results, migrations.RunPython.noop, elidable=True),
        # The expression Django's icontains writes (UPPER(...) LIKE UPPER('%term%')), over the rows
        # that have a copy.
        CreateIndexOnline(name="launch_finished_result_trgm", table="dashboard_tasklaunch",
                          columns="USING gin (UPPER(finished_result) gin_trgm_ops) WHERE finished_result IS NOT NULL",
                          postgresql_only=True),
    ]
