"""`manage.py sync_schedules`: create the default periodic tasks from settings that are missing.

Also runs after every `migrate`; existing schedules (possibly edited by staff) are left alone.
"""

from django.core.management.base import BaseCommand

from dashboard.schedules.services import periodic_tasks_sync


class Command(BaseCommand):
    help = "Create the periodic tasks declared in settings.PERIODIC_TASKS that are missing."

    def handle(self, *args, **options):
        created = periodic_tasks_sync()
        self.stdout.write(f"Created: {', '.join(created)}" if created else "All declared periodic tasks exist.")
