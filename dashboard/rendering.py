"""`render_page`: one URL per page, whose htmx requests get only the named partial.

The answer depends on the HX-Request header, so it says so (`Vary: HX-Request`): a cache or the
browser's back button must never serve the partial as the page, or the page as the partial.
"""

from __future__ import annotations

from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def render_page(request, template: str, context: dict, *, partial: str, status: int = 200, htmx: bool | None = None):
    """`template` for a plain request, `template#partial` for htmx (or when `htmx` says so)."""
    use_partial = request.htmx if htmx is None else htmx
    response = render(request, f"{template}#{partial}" if use_partial else template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
