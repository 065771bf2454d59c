"""TaskLaunch.created_at is now given by its writer (the TaskResult row's date_created) instead of
auto_now_add. The column is the same in the database, so only Django's state changes: no SQL (a
plain AlterField would copy the whole table on SQLite to change nothing)."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0020_task_text_search_trigram_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='tasklaunch',
                name='created_at',
                field=models.DateTimeField(default=django.utils.timezone.now),
            ),
        ]),
    ]
