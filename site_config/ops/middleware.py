"""ProbeMiddleware: answers /healthz, /readyz and /metrics before anything else in MIDDLEWARE.

Why a middleware first in the stack and not URLs: a load balancer's health check and a Prometheus
scrape reach a web process by its own address, over plain HTTP. Through the normal stack they would
get a 400 (their Host, an internal address, is not in ALLOWED_HOSTS) or a 301 to HTTPS
(SECURE_SSL_REDIRECT), and every probe would fail. These three answers build no URL from the Host
header and set no cookie, so skipping those checks for them is safe; /metrics does its own access
check (METRICS_TOKEN / METRICS_ALLOWED_NETWORKS). It also skips sessions, CSRF and authentication:
a probe costs only its own view.

Runs on daphne's event loop in async mode; in sync mode (WSGI, Django's test Client) the async
views are called through async_to_sync.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.http import HttpResponseNotAllowed

from site_config.ops import views

PROBES = {"/healthz": views.healthz, "/readyz": views.readyz, "/metrics": views.metrics}


class ProbeMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        view = PROBES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return async_to_sync(view)(request)

    async def __acall__(self, request):
        view = PROBES.get(request.path_info)
        if view is None:
            return await self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return await view(request)
