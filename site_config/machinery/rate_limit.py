"""The site's one rate limiter: counters in Redis, shared by every web process.

A limit is "COUNT per SECONDS" for one identity (an account and address, a token, a client
address). Its counter lives at `site:rate:<limit name>:<sha256 of the identity>` (so usernames,
emails and tokens never appear in keys) and its window starts at the first hit and ends by itself
(the key expires): nothing to reset by hand. One script per attempt counts every counter of the
attempt at once, in one round trip (EVALSHA), with either redis-py client: `rate_take` for sync code (the
account doors, the API, comments), `rate_take_async` for async views (the weather lookups, on the
caller's own `redis.asyncio` client).

Users: `site_config/machinery/throttles.py` (log-in, sign-up, password reset, re-send),
`dashboard/api/throttling.py` (each token's request budget), `blog/services/comments.py` (comments
per member), `weather/client.py` (lookups per client). The weather's upstream budget is not a
limit per identity but a shared quota with partial grants; it has its own script there.

Concurrent connections are counted here too: `connection_lease_take` holds one of an account's
LIVE_CONNECTIONS_PER_ACCOUNT places (websockets in dashboard/live/consumers.py, the API's streams
in dashboard/api/stream.py) until the connection gives it back or its longest life ends.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import NoScriptError

logger = logging.getLogger(__name__)

KEY_PREFIX = "site:rate:"

# KEYS: the counters; ARGV[1]: the cost, then each counter's window in seconds. Returns, per
# counter, the count after this attempt and the seconds left in its window.
_TAKE_SCRIPT = """
local cost = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local seconds = tonumber(ARGV[i + 1])
  redis.call('SET', key, 0, 'EX', seconds, 'NX')
  local used = redis.call('INCRBY', key, cost)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then redis.call('EXPIRE', key, seconds); ttl = seconds end
  out[#out + 1] = used
  out[#out + 1] = ttl
end
return out
"""

# Give back only counters that still exist: a DECRBY on one whose window just ended would create
# a counter without a window.
_REFUND_SCRIPT = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECRBY', key, ARGV[1]) end
end
"""


_TAKE_SHA = hashlib.sha1(_TAKE_SCRIPT.encode()).hexdigest()
_REFUND_SHA = hashlib.sha1(_REFUND_SCRIPT.encode()).hexdigest()


def _run(client, script: str, sha: str, keys: list[str], args: list):
    # EVALSHA: the script travels once per Redis (loaded again after a restart), not per attempt.
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        client.script_load(script)
        return client.evalsha(sha, len(keys), *keys, *args)


async def _run_async(client, script: str, sha: str, keys: list[str], args: list):
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        await client.script_load(script)
        return await client.evalsha(sha, len(keys), *keys, *args)


@dataclass(frozen=True)
class Counter:
    """One limit for one identity: `name` (the setting that gives it, for logs and pages), `rate`
    (count, seconds; count 0: no limit) and `identity` (whom it counts)."""

    name: str
    rate: tuple[int, int]
    identity: str

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name + ":" + hashlib.sha256(self.identity.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    counter: Counter
    retry_after: int  # seconds until the counter's window ends




def _redis() -> redis.Redis:
    from site_config.machinery.redis_roles import redis_client

    return redis_client("keys")


def _active(counters: list[Counter]) -> list[Counter]:
    return [counter for counter in counters if counter.rate[0]]


def _refusal(active: list[Counter], replies: list[int]) -> Refusal | None:
    refusal = None
    for index, counter in enumerate(active):
        used, ttl = int(replies[2 * index]), int(replies[2 * index + 1])
        if used > counter.rate[0]:
            wait = ttl if ttl > 0 else counter.rate[1]
            if refusal is None or wait > refusal.retry_after:
                refusal = Refusal(counter, wait)
    return refusal


class Unavailable(Exception):
    """Redis did not answer; the caller decides whether to let the attempt through."""


def rate_take(counters: list[Counter], *, cost: int = 1) -> Refusal | None:
    """Count `cost` in every counter; the refusal with the longest wait if any is over its limit.
    Raises Unavailable when Redis does not answer."""
    active = _active(counters)
    if not active:
        return None
    try:
        replies = _run(_redis(), _TAKE_SCRIPT, _TAKE_SHA, [c.key for c in active],
                       [cost, *(c.rate[1] for c in active)])
    except (redis.RedisError, OSError) as error:
        raise Unavailable(str(error)) from error
    return _refusal(active, replies)


def rate_peek(counter: Counter) -> int:
    """How many the counter holds now (0 when Redis does not answer)."""
    try:
        return int(_redis().get(counter.key) or 0)
    except (redis.RedisError, OSError):
        return 0


def rate_refund(counters: list[Counter], *, cost: int = 1) -> None:
    """Take back an attempt that turned out fine (a successful log-in is not a guess)."""
    active = _active(counters)
    if not active:
        return
    try:
        _run(_redis(), _REFUND_SCRIPT, _REFUND_SHA, [c.key for c in active], [cost])
    except (redis.RedisError, OSError) as error:
        logger.error("rate limiter unavailable (%s): could not refund", error)


async def rate_take_async(client, counters: list[Counter], *, cost: int = 1) -> Refusal | None:
    """`rate_take` on the caller's `redis.asyncio` client (the same script and keys)."""
    active = _active(counters)
    if not active:
        return None
    try:
        replies = await _run_async(client, _TAKE_SCRIPT, _TAKE_SHA, [c.key for c in active],
                                   [cost, *(c.rate[1] for c in active)])
    except (redis.RedisError, OSError) as error:
        raise Unavailable(str(error)) from error
    return _refusal(active, replies)


# --- how many long-lived connections one account holds at once (websockets, progress streams) ---

# KEYS[1]: the account's set of leases; ARGV: cap, lease seconds, lease id. Leases past their end
# (a process that died without saying goodbye) are dropped first; the time is Redis's, so every
# host agrees. Returns 1 when the lease is granted, 0 when the account already holds `cap`.
_LEASE_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_LEASE_SHA = hashlib.sha1(_LEASE_SCRIPT.encode()).hexdigest()
LEASE_PREFIX = KEY_PREFIX + "connections:"

_async_clients: dict[int, tuple] = {}


def _async_redis():
    """One redis.asyncio client per event loop (a client cannot cross loops)."""
    import asyncio

    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    entry = _async_clients.get(id(loop))
    if entry is None or entry[0] is not loop:
        from site_config.machinery.redis_roles import async_connection_pool

        entry = _async_clients[id(loop)] = (loop, aioredis.Redis(
            connection_pool=async_connection_pool("keys", max_connections=200)))
    return entry[1]


async def connection_lease_take(*, user_id: int, lease_id: str, seconds: float) -> bool:
    """Hold one of the account's LIVE_CONNECTIONS_PER_ACCOUNT places for at most `seconds` (the
    connection's longest life); False when all are held. Redis down: True (a page that cannot be
    live still shows the database's state, and refusing it would not protect anything)."""
    cap = settings.LIVE_CONNECTIONS_PER_ACCOUNT
    if not cap:
        return True
    try:
        granted = await _run_async(_async_redis(), _LEASE_SCRIPT, _LEASE_SHA, [f"{LEASE_PREFIX}{user_id}"],
                                   [cap, int(seconds) + 60, lease_id])
    except (redis.RedisError, OSError) as error:
        logger.error("connection cap unavailable (%s): letting the connection through", error)
        return True
    return bool(granted)


async def connection_lease_release(*, user_id: int, lease_id: str) -> None:
    try:
        await _async_redis().zrem(f"{LEASE_PREFIX}{user_id}", lease_id)
    except (redis.RedisError, OSError) as error:
        logger.error("connection cap unavailable (%s): the lease ends by itself", error)
