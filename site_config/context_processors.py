"""Template context processors of the site."""


def csp_nonce(request) -> dict:
    """`csp_nonce`: this response's Content-Security-Policy nonce, under the name django-htmx's
    `{% htmx_script %}` (and Django 6's own CSP support) read. Lazy: made only if a template uses it."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
