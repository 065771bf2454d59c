"""API tokens: an optional expiry, and the owner's password stamp (tokens made before keep working
until the owner's password changes: each is stamped with the password its owner has now)."""

from django.db import migrations, models
from django.utils.crypto import salted_hmac


def stamp_existing_tokens(apps, schema_editor):
    ApiToken = apps.get_model("dashboard", "ApiToken")
    for token in ApiToken.objects.select_related("user").iterator():
        # What AbstractBaseUser.get_session_auth_hash() answers for this password.
        stamp = salted_hmac("django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash",
                            token.user.password, algorithm="sha256").hexdigest()
        ApiToken.objects.filter(pk=token.pk).update(password_stamp=stamp)


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0017_schedule_headers_without_launch_metadata'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='password_stamp',
            field=models.CharField(default='', editable=False, max_length=128),
        ),
        migrations.RunPython(stamp_existing_tokens, migrations.RunPython.noop),
    ]
