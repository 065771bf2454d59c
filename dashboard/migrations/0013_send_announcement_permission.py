"""The permission to send announcements to all members, granted to every existing staff member.

Announcements are new; staff were told they would write them, as they decide comments and send
failed emails again (migration 0007 granted those the same way). Staff created later get it only
when someone grants it (in the admin, or through a group).
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant_to_staff(apps, schema_editor):
    # As in 0007: create the permission now (post_migrate would do it only after the whole run).
    app_config = apps.get_app_config("dashboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    db = schema_editor.connection.alias
    permission = Permission.objects.using(db).get(content_type__app_label="dashboard", codename="send_announcement")
    for user in User.objects.using(db).filter(is_staff=True):
        user.user_permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0012_permissions_and_action_kinds_together"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="namedpermission",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("decide_comments", "Can decide comments (approve, reject, mark as spam)"),
                    ("resend_email", "Can send failed emails again"),
                    ("start_demo_job", "Can start the demo job"),
                    ("purge_queue", "Can purge a queue (its waiting tasks are revoked)"),
                    ("export_data", "Can export tasks, the moderation queue and comments as CSV"),
                    ("send_announcement", "Can send announcements to all members"),
                ],
                "verbose_name": "named permission",
            },
        ),
        # Reversing keeps the grant: the permission stays a harmless row once its check is gone.
        migrations.RunPython(grant_to_staff, migrations.RunPython.noop),
    ]
