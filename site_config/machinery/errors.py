"""Error views of the site (set in site_config/urls.py)."""

from __future__ import annotations

from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _

DEFAULT_REFUSAL = _("You do not have permission to do that.")


def permission_denied(request, exception):
    """Every refusal is a 403 that says why (the PermissionDenied's message, e.g. which permission
    is needed). An htmx request gets the message alone: htmx does not swap error answers, so
    static/js/site.js shows it above the page."""
    htmx = bool(getattr(request, "htmx", False))
    context = {"refusal": str(exception) or DEFAULT_REFUSAL}
    response = render(request, "403.html#refusal" if htmx else "403.html", context, status=403)
    patch_vary_headers(response, ("HX-Request",))
    return response
