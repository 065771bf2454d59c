"""One request budget per token (or per signed-in user, or per client address when anonymous),
counted in the site's Redis cache so every web process shares it. Over it: 429 with Retry-After."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from dashboard.models import ApiToken
from site_config.machinery.client_address import request_client_bucket


class PerTokenThrottle(SimpleRateThrottle):
    scope = "api"
    cache_format = "api:throttle:%(ident)s"

    def get_rate(self):
        count, seconds = settings.API_THROTTLE_RATE
        return f"{count}/{seconds}" if count else None

    def parse_rate(self, rate):
        if rate is None:
            return None, None
        count, seconds = rate.split("/")
        return int(count), int(seconds)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            ident = f"token:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{request_client_bucket(request)}"
        return self.cache_format % {"ident": ident}
