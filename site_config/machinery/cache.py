"""The cache backend: Django's Redis cache, made to degrade instead of failing while Redis is down.

Everything the site keeps in the cache can be recomputed or skipped: chart figures and state counts
come from the database again, the workers snapshot says it cannot be read, a cooldown or a comment
rate limit lets the request through. So while Redis is unreachable a read is a miss, a write is
dropped and a counter starts from one, each logged at most once every few seconds, and pages keep
answering (with a notice: `redis_unavailable()`), instead of answering 500.

Connection and read timeouts are short (OPTIONS in settings), so a Redis that does not answer costs
a page about a second, not a hung worker thread.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
NOTICE_SECONDS = 30.0  # how long after the last failure pages still say that Redis is unreachable
LOG_EVERY_SECONDS = 10.0

_last_failure = float("-inf")
_last_logged = float("-inf")


def redis_unavailable(*, now: float | None = None) -> bool:
    """Whether this process failed to reach the cache's Redis in the last NOTICE_SECONDS."""
    return ((time.monotonic() if now is None else now) - _last_failure) < NOTICE_SECONDS


def _failed(operation: str, error: Exception) -> None:
    global _last_failure, _last_logged
    now = time.monotonic()
    _last_failure = now
    if now - _last_logged >= LOG_EVERY_SECONDS:
        _last_logged = now
        logger.warning("cache unavailable (%s: %s); serving without it", operation, error)


class ResilientRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except OUTAGE_ERRORS as error:
            _failed("get", error)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except OUTAGE_ERRORS as error:
            _failed("get_many", error)
            return {}

    def set(self, key, value, timeout=..., version=None):
        try:
            return super().set(key, value, timeout, version) if timeout is not ... else super().set(key, value, version=version)
        except OUTAGE_ERRORS as error:
            _failed("set", error)
            return None

    def set_many(self, data, timeout=..., version=None):
        try:
            if timeout is ...:
                return super().set_many(data, version=version)
            return super().set_many(data, timeout, version)
        except OUTAGE_ERRORS as error:
            _failed("set_many", error)
            return list(data)

    def add(self, key, value, timeout=..., version=None):
        """True (as if added) during an outage: a lock or a cooldown must not block the site."""
        try:
            return super().add(key, value, timeout, version) if timeout is not ... else super().add(key, value, version=version)
        except OUTAGE_ERRORS as error:
            _failed("add", error)
            return True

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except OUTAGE_ERRORS as error:
            _failed("incr", error)
            return delta

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except OUTAGE_ERRORS as error:
            _failed("delete", error)
            return False

    def touch(self, key, timeout=..., version=None):
        try:
            return super().touch(key, timeout, version) if timeout is not ... else super().touch(key, version=version)
        except OUTAGE_ERRORS as error:
            _failed("touch", error)
            return False
