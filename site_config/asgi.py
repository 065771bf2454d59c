"""ASGI entry point for daphne: HTTP goes to Django, /ws/ to the Channels consumers.

Everything first passes `BackpressureMiddleware` (a streamed response waits for a slow client
instead of piling up in memory), then `ClientAddressMiddleware`, which decides the client's address and scheme
(trusting proxy headers only from TRUSTED_PROXIES) and writes the access log. Websockets are then
wrapped, outermost first, in an Origin check (scheme, host and port against SITE_URL and
DJANGO_CSRF_TRUSTED_ORIGINS: site_config/machinery/websocket_origin.py) and the session authentication
middleware; each consumer then checks permissions itself before joining a group.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
# A web process keeps a pool of PostgreSQL connections (settings "database"); DJANGO_DB_POOL=0 turns it off.
os.environ.setdefault("DJANGO_DB_POOL", "1")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from site_config.machinery.backpressure import BackpressureMiddleware  # noqa: E402
from site_config.machinery.client_address import ClientAddressMiddleware  # noqa: E402
from site_config.machinery.websocket_close import allow_service_restart_close  # noqa: E402
from site_config.machinery.websocket_origin import WebsocketOriginValidator  # noqa: E402
from site_config.routing import websocket_urlpatterns  # noqa: E402

# Sockets that should reconnect close with 1012, which daphne would otherwise refuse to send.
allow_service_restart_close()

# Outermost, so it sees daphne's own `send` (see site_config/machinery/backpressure.py).
application = BackpressureMiddleware(ClientAddressMiddleware(ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebsocketOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)))

# Everything loaded so far (Django, the apps' modules, the URL conf, settings) lives as long as the
# process: move it out of the garbage collector's sight, so its collections only walk what requests
# allocate. Measured on bench/weather_bench.py: about 0.4 ms of CPU less per weather visitor.
gc.freeze()
