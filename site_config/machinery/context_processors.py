"""Template context processors of the site."""

from __future__ import annotations

from site_config.machinery.cache import redis_unavailable


def csp_nonce(request) -> dict:
    """`csp_nonce`: this response's Content-Security-Policy nonce, under the name django-htmx's
    `{% htmx_script %}` (and Django 6's own CSP support) read. Lazy: made only if a template uses it."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


def service_notices(request) -> dict:
    """Notices about services this process could not reach while making the page."""
    return {"redis_unavailable": redis_unavailable()}
