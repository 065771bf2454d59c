"""The site's ASGI application without its back-pressure middleware: daphne as it is, for
bench/export_downloads.py --without-backpressure (never served by the Procfile)."""

from site_config.asgi import application as _site

application = _site.app  # BackpressureMiddleware's inner application
