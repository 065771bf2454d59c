"""Schedules stored with launch metadata in their headers (who launched, argument reprs, task id...)
lose those keys: Celery lets a schedule's headers overwrite the ones the server sets."""

import json

from django.db import migrations

RESERVED_HEADERS = {
    "launched_by", "argsrepr", "kwargsrepr", "id", "task", "root_id", "parent_id", "group", "group_index",
    "retries", "retry_of", "eta", "expires", "timelimit", "origin", "lang", "shadow", "ignore_result",
    "periodic_task_name", "stamped_headers", "stamps", "replaced_task_nesting", "correlation_id", "reply_to",
}


def strip_reserved_headers(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for pt in PeriodicTask.objects.exclude(headers__in=["", "{}"]).iterator():
        try:
            headers = json.loads(pt.headers or "{}")
        except ValueError:
            headers = {}
        clean = {k: v for k, v in headers.items() if k not in RESERVED_HEADERS} if isinstance(headers, dict) else {}
        PeriodicTask.objects.filter(pk=pt.pk).update(headers=json.dumps(clean))


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0016_task_result_fillfactor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(strip_reserved_headers, migrations.RunPython.noop)]
