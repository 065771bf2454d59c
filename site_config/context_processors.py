"""Template context every page gets: notices about services the page could not reach."""

from __future__ import annotations

from site_config.cache import redis_unavailable


def service_notices(request) -> dict:
    return {"redis_unavailable": redis_unavailable()}
