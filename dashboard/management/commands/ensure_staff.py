"""Create a staff superuser when the site has none (used by `make run`).

Takes Django's own DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL when set; otherwise creates
"admin" with a generated password and prints it once. Does nothing when a staff user exists.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a staff superuser if none exists, printing a generated password once."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_staff=True, is_active=True).exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or "admin@example.com"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            self.stdout.write(self.style.SUCCESS(
                f"\nCreated staff account '{username}' with password: {password}\n"
                "This password is shown only once. Change it at /admin/password_change/.\n"
            ))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created staff account '{username}' from DJANGO_SUPERUSER_*."))
