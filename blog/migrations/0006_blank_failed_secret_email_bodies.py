"""One-time account links in emails that failed for good are blanked, as sent ones are."""

from django.db import migrations


def blank_failed_secret_bodies(apps, schema_editor):
    OutboundEmail = apps.get_model("blog", "OutboundEmail")
    OutboundEmail.objects.filter(status="failed", kind__in=("password_reset", "verification")).update(body="")


class Migration(migrations.Migration):
    dependencies = [("blog", "0005_profile_language")]

    operations = [migrations.RunPython(blank_failed_secret_bodies, migrations.RunPython.noop)]
