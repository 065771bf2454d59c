"""Grant the new `dashboard.export_data` permission to every existing staff member (as 0007 did for
the first named permissions): staff could always read these pages, and the CSV is the same data.
Staff created later get it only when someone grants it (in the admin, or through a group).
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_to_staff(apps, schema_editor):
    app_config = apps.get_app_config("dashboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    db = schema_editor.connection.alias
    permission = Permission.objects.using(db).get(content_type__app_label="dashboard", codename="export_data")
    for user in User.objects.using(db).filter(is_staff=True):
        user.user_permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0010_jobs_exports_cancel"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(grant_to_staff, migrations.RunPython.noop),
    ]
