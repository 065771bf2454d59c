"""One request budget per token (or per signed-in user, or per client address when anonymous), on
the site's one rate limiter (site_config/machinery/rate_limit.py: Redis, shared by every web
process). Over it: 429 with Retry-After. Redis unreachable: requests go through (logged)."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from dashboard.models import ApiToken
from site_config.machinery.client_address import request_client_bucket
from site_config.machinery.rate_limit import Counter, Unavailable, rate_take

logger = logging.getLogger(__name__)


class PerTokenThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{request_client_bucket(request)}"
        try:
            refusal = rate_take([Counter("API_THROTTLE_RATE", settings.API_THROTTLE_RATE, ident)])
        except Unavailable as error:
            logger.error("API throttle unavailable (%s): letting the request through", error)
            return True
        self._wait = refusal.retry_after if refusal else None
        return refusal is None

    def wait(self):
        return self._wait
