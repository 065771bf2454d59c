"""Grant the new named permissions to every existing staff member.

Before them, deciding comments, sending a failed email again and starting the demo job needed only
staff status; without this grant the upgrade would take those actions away from the people doing
them. Staff created later get them only when someone grants them (in the admin, or through a group).
"""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["decide_comments", "resend_email", "start_demo_job"]


def grant_to_staff(apps, schema_editor):
    # Permissions are normally created after the whole migrate run (post_migrate); create them now so
    # they can be granted. models_module is unset on migration-state app configs, which would make
    # create_permissions skip the app.
    app_config = apps.get_app_config("dashboard")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None

    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    db = schema_editor.connection.alias
    permissions = list(
        Permission.objects.using(db).filter(content_type__app_label="dashboard", codename__in=CODENAMES)
    )
    for user in User.objects.using(db).filter(is_staff=True):
        user.user_permissions.add(*permissions)


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0006_named_permissions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # Reversing keeps the grants: the permissions stay harmless rows once their checks are gone.
        migrations.RunPython(grant_to_staff, migrations.RunPython.noop),
    ]
