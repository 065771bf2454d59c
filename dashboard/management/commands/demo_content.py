"""`manage.py demo_content`: fill the database with demo content (dashboard.demo), once.

`make run` calls it when its own migrate created the tables. It refuses to run with DEBUG off
(a production database is no place for made-up members and comments) unless given --force.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dashboard.demo.services import demo_content_create


class Command(BaseCommand):
    help = ("Create demo posts, verified members, comments in every moderation state, a finished and a "
            "failed task and daily reports; running it again creates nothing more.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="run even with DEBUG off")

    def handle(self, *args, force: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("DEBUG is off: this looks like a real site, so no demo content was created. "
                               "Use --force if you really want it here.")
        summary = demo_content_create()
        self.stdout.write(self.style.SUCCESS(str(summary)) if summary.anything else str(summary))
