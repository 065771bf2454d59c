"""Which languages live pages are being watched in, so that pushed HTML is rendered once per language
someone reads, not once per watcher and not in languages nobody reads.

The record is one Redis key per language (`live-language:<code>`) with a short expiry. Each daphne
process's fan-out sets the keys of the languages of the groups it holds members for when a group is
first joined (before the consumer reads its snapshot, so no update can fall between the two) and
again on every probe round while it still has them (dashboard.live.fanout). A publisher reads all
the keys in one round trip per publish (`watched_languages`); a language whose key expired has no
watcher left anywhere. Nothing here is per watcher: a thousand zh-Hant readers set one key. The read
is not remembered between publishes: a language whose first watcher joined a moment ago must be
rendered from the very next publish on, or that page would miss updates (its final state included).

When the record cannot be read (Redis away: nothing could be published anyway) or names no
language, the default language is rendered, as a page opened at that moment expects.

A connection's language is Django's choice for a request (the language cookie, which a member's
saved choice is copied into at log-in, then Accept-Language), read from the websocket handshake.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import redis
from django.conf import settings
from django.utils.translation import get_language_from_request

from site_config.ops.metrics import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "live-language:"


def mark_seconds() -> float:
    """How long a language stays recorded after its last refresh: a few probe rounds."""
    return 3 * settings.LIVE_PROBE_INTERVAL + 5


def language_key(language: str) -> str:
    return KEY_PREFIX + language


def site_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def connection_language(scope: dict) -> str:
    """The language a websocket connection's pages are in, from its handshake's cookie and headers."""
    accept = ""
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            accept = value.decode("latin-1")
            break
    request = SimpleNamespace(COOKIES=scope.get("cookies") or {}, META={"HTTP_ACCEPT_LANGUAGE": accept})
    return get_language_from_request(request)


def watched_languages() -> list[str]:
    """The languages someone watches a live page in (the default language when none or unknown)."""
    languages = site_languages()
    try:
        marks = redis_client().mget([language_key(code) for code in languages])
    except (redis.RedisError, OSError):
        return [settings.LANGUAGE_CODE]
    watched = [code for code, mark in zip(languages, marks, strict=True) if mark is not None]
    return watched or [settings.LANGUAGE_CODE]


def languages_client():
    """An async client for the Redis that `watched_languages` reads (the "keys" role), one per
    fan-out, so per event loop."""
    import redis.asyncio

    from site_config.machinery.redis_roles import async_connection_pool

    return redis.asyncio.Redis(connection_pool=async_connection_pool("keys", max_connections=4))


async def languages_mark(client, languages: set[str]) -> None:
    """Record `languages` as watched (an async Redis client: the fan-out's); raises on Redis errors."""
    if not languages:
        return
    seconds = max(1, round(mark_seconds()))
    async with client.pipeline(transaction=False) as pipe:
        for language in languages:
            pipe.set(language_key(language), "1", ex=seconds)
        await pipe.execute()
