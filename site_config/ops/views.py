"""/healthz, /readyz and /metrics: async views, answered by site_config.ops.middleware.ProbeMiddleware.

They are not in the URL conf: the middleware answers them before ALLOWED_HOSTS and the HTTPS
redirect apply (site_config/ops/middleware.py says why), so these functions are the whole of each endpoint.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from site_config.ops.collector import metrics_text
from site_config.ops.readiness import readiness

logger = logging.getLogger(__name__)


def _machine_response(response):
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


async def healthz(request):
    """The process is alive and its event loop answers. No I/O at all."""
    return _machine_response(HttpResponse("ok\n", content_type="text/plain; charset=utf-8"))


async def readyz(request):
    """200 when this process can serve (maybe "degraded"), 503 when it cannot or is stopping
    (site_config/ops/readiness.py).

    The status code and the one-word status are public (a balancer needs nothing more); the details
    (the checks, workers online, unapplied migrations, latencies) only for the metrics readers
    (`METRICS_TOKEN`, `METRICS_ALLOWED_NETWORKS`): they map the formation for anyone else."""
    result = await readiness.result()
    status = 503 if result["status"] in ("fail", "stopping") else 200
    body = result if metrics_allowed(request) else {"status": result["status"]}
    return _machine_response(JsonResponse(body, status=status))


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> list:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def metrics_allowed(request) -> bool | None:
    """True to serve, False to refuse (403); None when no reader is configured (404: metrics off)."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return None
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
        except ValueError:
            return False
        return any(address in network for network in _networks(tuple(networks)))
    return False


async def metrics(request):
    """Prometheus exposition of the whole formation's metrics, for the configured readers only."""
    allowed = metrics_allowed(request)
    if allowed is None:
        return _machine_response(HttpResponse("Not found\n", status=404, content_type="text/plain"))
    if not allowed:
        return _machine_response(HttpResponse("Forbidden\n", status=403, content_type="text/plain"))
    try:
        # Redis and the broker are synchronous clients: a thread, never the event loop.
        body = await sync_to_async(metrics_text, thread_sensitive=False)()
    except Exception as error:
        logger.warning("metrics unavailable: %s", error)
        return _machine_response(HttpResponse(f"metrics unavailable: {type(error).__name__}\n", status=503,
                                              content_type="text/plain"))
    return _machine_response(HttpResponse(body, content_type=CONTENT_TYPE_LATEST))
