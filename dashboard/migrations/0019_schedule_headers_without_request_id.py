"""Schedules stored with a `request_id` header lose it: the id ties a task's log lines to the web
request that queued it, and a schedule could otherwise put any request's id on its runs."""

import json

from django.db import migrations


def strip_request_id(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for pt in PeriodicTask.objects.filter(headers__contains="request_id").iterator():
        try:
            headers = json.loads(pt.headers or "{}")
        except ValueError:
            headers = {}
        clean = {k: v for k, v in headers.items() if k != "request_id"} if isinstance(headers, dict) else {}
        PeriodicTask.objects.filter(pk=pt.pk).update(headers=json.dumps(clean))


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0018_api_token_expiry_and_password_stamp"),
    ]

    operations = [migrations.RunPython(strip_request_id, migrations.RunPython.noop)]
