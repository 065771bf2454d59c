"""The one "active staff" check: who may look at the dashboard, every staff-only page, socket and
API call, and the images of unpublished posts.

`is_active_staff(user)` for code, `staff_required` for views (Django's staff_member_required
makes the same decision; this is the one place that states it, with its redirect to the log-in
page). Actions need a named permission on top (dashboard/permissions.py). blog and dashboard both
import it from here, since blog never imports dashboard.
"""

from __future__ import annotations

from django.contrib.auth.decorators import user_passes_test


def is_active_staff(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def staff_required(view):
    """Decorate a view: active staff go in; anyone else is sent to the log-in page (then back)."""
    return user_passes_test(is_active_staff, login_url="admin:login")(view)
