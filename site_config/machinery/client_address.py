"""Who is on the other end: the one place that decides a request's client address and scheme.

daphne reports the TCP peer. Behind a reverse proxy the peer is the proxy, and the client's
address is in `X-Forwarded-For`, which every hop appends to and which the client can pre-fill with
anything it likes. So the header is believed only as far as it was written by machines we trust:

- when the peer is not in TRUSTED_PROXIES, the peer is the client and the headers are ignored
  (someone talking to daphne directly can write any header);
- when it is, `X-Forwarded-For` is read from the right, skipping the addresses of trusted proxies;
  the first address that is not one is the client. Everything to its left was written by the
  client or by proxies we know nothing about. `X-Forwarded-Proto` (https or not) is believed only
  from a trusted peer too.

`ClientAddressMiddleware` wraps the ASGI application (HTTP and websockets) and writes the decision
into the scope, so `request.META["REMOTE_ADDR"]`, `request.is_secure()` and Channels' scope agree
everywhere; it also writes the access log with that address. It replaces daphne's
`--proxy-headers` (which trusts the leftmost, client-written entry) and Django's
SECURE_PROXY_SSL_HEADER (which believes the header whoever sends it).

Limits (the weather lookups, the throttles on the account doors) key on `client_bucket()`: the
address itself for IPv4, its /64 for IPv6, since one IPv6 subscriber usually holds a whole /64 and
could otherwise take a fresh bucket per request.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time

from django.conf import settings

access_logger = logging.getLogger("site_config.access")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_networks_cache: tuple[tuple[str, ...], tuple[IPNetwork, ...]] | None = None


def trusted_proxy_networks(values) -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES as networks ("192.0.2.7" is 192.0.2.7/32); settings.py has checked each one."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def _trusted_networks() -> tuple[IPNetwork, ...]:
    # Parsed once per value of the setting (tests change it), not once per request.
    global _networks_cache
    values = tuple(settings.TRUSTED_PROXIES)
    if _networks_cache is None or _networks_cache[0] != values:
        _networks_cache = (values, trusted_proxy_networks(values))
    return _networks_cache[1]


def _parse(address: str) -> IPAddress | None:
    address = address.strip()
    if address.startswith("[") and "]" in address:  # "[2001:db8::1]:443"
        address = address[1:address.index("]")]
    elif address.count(":") == 1:  # "192.0.2.1:5678"
        address = address.split(":", 1)[0]
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return parsed.ipv4_mapped or parsed if isinstance(parsed, ipaddress.IPv6Address) else parsed


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, *, trusted=None) -> str:
    """The client's address, given the TCP peer and the X-Forwarded-For header (None when absent).

    `trusted` (networks) defaults to TRUSTED_PROXIES. An entry that is not an address stops the walk:
    the hop before it (a trusted proxy) is then the best we know, never a value the client chose.
    """
    networks = _trusted_networks() if trusted is None else trusted
    peer_address = _parse(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not forwarded_for or not networks or not _is_trusted(peer_address, networks):
        return str(peer_address)
    nearest = peer_address
    for entry in reversed(forwarded_for.split(",")):
        hop = _parse(entry)
        if hop is None:
            break
        nearest = hop
        if not _is_trusted(hop, networks):
            break
    return str(nearest)


def client_bucket(address: str) -> str:
    """The unit limits count in: an IPv4 address, or the /64 holding an IPv6 address."""
    parsed = _parse(address)
    if parsed is None:
        return address or "unknown"
    if parsed.version == 6:
        return str(ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64)))
    return str(parsed)


def request_client_bucket(request) -> str:
    """The limit bucket of a Django request (REMOTE_ADDR is already the decided client address)."""
    return client_bucket(request.META.get("REMOTE_ADDR") or "")


def _header(headers, name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in headers if key == name]
    return ",".join(values) if values else None


# Paths that carry a one-time key (password reset, email confirmation, unsubscribe): the access log
# writes the key's segment as [redacted], so log readers and log stores never hold a working link.
REDACTED_PATHS = (
    re.compile(r"^(/accounts/reset/)(?!\[redacted\])[^/]*/[^/]*"),
    re.compile(r"^(/accounts/verify/)(?!resend/)[^/]*"),
    re.compile(r"^(/accounts/unsubscribe/)[^/]*"),
)
# Query parameters whose value is a secret wherever they appear.
REDACTED_QUERY = re.compile(r"(^|&)((?:token|key|signature|code|password)=)[^&]*", re.IGNORECASE)


def _escaped(text: str) -> str:
    """Control characters (a decoded %0A would start a forged line), quotes and backslashes as \\xNN."""
    return "".join(f"\\x{ord(c):02x}" if c in '"\\' or not c.isprintable() else c for c in text)


def redact_path(path: str) -> str:
    """`path` with the one-time key of a reset, confirmation or unsubscribe link as [redacted]."""
    for pattern in REDACTED_PATHS:
        path = pattern.sub(r"\1[redacted]", path)
    return path


def access_log_target(path: str, query: bytes) -> str:
    """The request target as the access log writes it: keys redacted, control characters escaped."""
    path = redact_path(path)
    text = query.decode("latin-1")
    if text:
        path += "?" + REDACTED_QUERY.sub(r"\1\2[redacted]", text)
    return _escaped(path)


class ClientAddressMiddleware:
    """ASGI middleware: the scope's client and scheme as decided above, and one access-log line per
    HTTP request (and per websocket handshake) naming that client."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        client = scope.get("client")
        peer = client[0] if client else None
        networks = _trusted_networks()
        if networks and peer is not None:
            peer_address = _parse(peer)
            if peer_address is not None and _is_trusted(peer_address, networks):
                scope = dict(scope)
                headers = scope.get("headers") or ()
                address = client_address(peer, _header(headers, b"x-forwarded-for"), trusted=networks)
                scope["client"] = [address, client[1] if address == peer else 0]
                proto = _header(headers, b"x-forwarded-proto")
                if proto is not None:
                    secure = proto.rsplit(",", 1)[-1].strip().lower() == "https"
                    if scope["type"] == "http":
                        scope["scheme"] = "https" if secure else "http"
                    else:
                        scope["scheme"] = "wss" if secure else "ws"
        if not access_logger.isEnabledFor(logging.INFO):
            return await self.app(scope, receive, send)
        return await self._logged(scope, receive, send)

    async def _logged(self, scope, receive, send):
        started = time.monotonic()
        client = (scope.get("client") or ["-"])[0]
        target = access_log_target(scope.get("path", ""), scope.get("query_string") or b"")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, self._websocket_logging_send(send, client, target))
        outcome = {"status": "-", "bytes": 0}

        async def logging_send(message):
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            access_logger.info('%s "%s %s" %s %s %.0fms', client, scope.get("method", "-"), target,
                               outcome["status"], outcome["bytes"], (time.monotonic() - started) * 1000)

    @staticmethod
    def _websocket_logging_send(send, client: str, target: str):
        """Logs the handshake's outcome (accepted or refused), then passes messages straight on.

        A plain function that returns daphne's own awaitable, not a coroutine of its own: every frame
        a live page is pushed goes through here, and a coroutine per frame is a frame object, its
        start and its return on the hottest path of the fan-out (bench/live_instructions.py)."""
        logged = False

        def logging_send(message):
            nonlocal logged
            if not logged and message["type"] in ("websocket.accept", "websocket.close"):
                logged = True
                verb = "WSCONNECT" if message["type"] == "websocket.accept" else "WSREJECT"
                access_logger.info('%s "%s %s"', client, verb, target)
            return send(message)

        return logging_send
