"""The websocket Origin check: a handshake is accepted only from the site's own origins.

Browsers send cookies with a websocket handshake whatever page opened it, and websockets are not
covered by CSRF protection, so the Origin header is what stops another site's page from opening a
socket with a visitor's session. Channels' AllowedHostsOriginValidator compares the host only; here
an origin is its scheme, host and port, all three compared, against:

- SITE_URL (the address people use; the default port of its scheme when it names none);
- DJANGO_CSRF_TRUSTED_ORIGINS (the same list Django's CSRF check trusts; "https://*.example.com"
  admits its subdomains);
- with DEBUG on, http on the loopback names (127.0.0.1, localhost, [::1]) at $PORT, where
  `make run` serves the site (so `PORT=8001 make run` works).

A refused handshake is answered with HTTP 403 before any consumer runs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL or Origin header; None for anything else ("null", junk)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


def allowed_origins() -> list[Origin]:
    urls = [settings.SITE_URL, *settings.CSRF_TRUSTED_ORIGINS]
    if settings.DEBUG:
        urls += [f"http://{host}:{settings.PORT}" for host in LOOPBACK_HOSTS]
    return [origin for origin in map(origin_of, urls) if origin is not None]


def origin_allowed(origin: str, allowed: list[Origin]) -> bool:
    asked = origin_of(origin)
    if asked is None:
        return False
    scheme, host, port = asked
    for allowed_scheme, allowed_host, allowed_port in allowed:
        if scheme != allowed_scheme or port != allowed_port:
            continue
        if host == allowed_host or (allowed_host.startswith("*.") and host.endswith(allowed_host[1:])):
            return True
    return False


class WebsocketOriginValidator:
    """ASGI middleware for the websocket side: refuses handshakes whose Origin is not one of ours."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = next((value.decode("latin-1") for name, value in scope.get("headers", ()) if name == b"origin"), "")
            # Read at each handshake (cheap, and settings may differ between tests).
            if not origin_allowed(origin, allowed_origins()):
                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
