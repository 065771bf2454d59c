"""The Open-Meteo client: aiohttp, one pooled session per process, timeouts, retries, limits, cache.

`aiohttp` called from an async view, made fit for a public page:

- one shared `aiohttp.ClientSession` per process (per event loop) instead of one per call, so
  connections are pooled and reused; it is created lazily on first use;
- a connect timeout and a total timeout on every attempt;
- a semaphore caps the upstream requests in flight in this process, whoever asked for them, so a
  crowd of visitors queues here instead of hammering Open-Meteo (WEATHER_MAX_CONCURRENT_UPSTREAM);
- retries on timeouts, connection errors, 5xx and 429, with exponential back-off and full jitter,
  waiting what `Retry-After` asks (or giving up at once when it asks for more than
  WEATHER_RETRY_AFTER_MAX_SECONDS: a visitor is waiting);
- bodies are read up to WEATHER_MAX_RESPONSE_BYTES and refused beyond;
- answers are cached in Redis through `redis.asyncio` (never a thread), geocoding much longer than
  forecasts, "no such place" for a while too; an expired answer is kept a while longer and served,
  marked stale with its age, when the upstream fails. Keys name the upstream URL, so switching
  WEATHER_*_URL (from the fake to Open-Meteo) never serves the other one's answers;
- one deadline per city (WEATHER_CITY_DEADLINE_SECONDS) covers everything that city waits for:
  a free upstream slot, each attempt, the back-off between attempts;
- a global upstream budget (per minute, hour and day, shared by every process through Redis) keeps
  all visitors together under Open-Meteo's free-tier quota: a page takes its cities' calls the first
  time one of them misses the cache, from a block its process reserved in one Lua call (so a page
  makes at most one Redis round trip for it, usually none).

Nothing here blocks the event loop: no `requests`, no `time.sleep`, no sync cache or ORM call.
Failures are `WeatherError`s with a `kind` the views turn into a message or a status code.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import random
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from site_config.machinery.rate_limit import Counter, Unavailable, rate_take_async
from site_config.machinery.redis_roles import async_connection_pool
from site_config.ops.metrics import WEATHER_UPSTREAM_ERRORS, WEATHER_UPSTREAM_REQUESTS

logger = logging.getLogger(__name__)

CURRENT_FIELDS = "temperature_2m,relative_humidity_2m,apparent_temperature,weather_code,wind_speed_10m"
CACHE_PREFIX = "weather:v1:"
REDIS_CONNECTIONS = 50  # per web process: each call holds one for well under a millisecond
NOT_FOUND = "not_found"


class WeatherError(Exception):
    """A city could not be looked up. `kind` is one of KINDS; the message is safe to show."""

    KINDS = ("not_found", "upstream", "rate_limited", "timeout", "malformed", "too_large")

    def __init__(self, kind: str, message: str) -> None:
        # `message` may be lazy: it is put into words in the language of whoever reads it.
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Retryable(Exception):
    def __init__(self, error: WeatherError, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after


@dataclass
class CityAnswer:
    """What the upstream (or the cache) said about one city."""

    place: dict
    forecast: dict
    stale_age_seconds: float | None = None  # set when served from an expired cache entry
    upstream_calls: int = 0
    sources: list[str] = field(default_factory=list)


# --- per-process shared state: one session, one semaphore, one Redis pool per event loop ---

@dataclass
class _LoopState:
    session: aiohttp.ClientSession
    semaphore: asyncio.Semaphore
    redis: aioredis.Redis
    budget: _ProcessBudget
    reads: dict = field(default_factory=dict)  # cache key -> the read in flight (asyncio.Task)


_states: dict[int, tuple[asyncio.AbstractEventLoop, _LoopState]] = {}


def _state() -> _LoopState:
    """The shared session etc. for the running loop (daphne has one loop; tests may create several)."""
    loop = asyncio.get_running_loop()
    entry = _states.get(id(loop))
    if entry is not None and entry[0] is loop and not entry[1].session.closed:
        return entry[1]
    cap = settings.WEATHER_MAX_CONCURRENT_UPSTREAM
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=cap, ttl_dns_cache=300),
        timeout=aiohttp.ClientTimeout(total=settings.WEATHER_TIMEOUT_SECONDS,
                                      connect=settings.WEATHER_CONNECT_TIMEOUT_SECONDS),
        headers={"User-Agent": "live-django-weather/1.0", "Accept": "application/json"},
        raise_for_status=False,
    )
    # A blocking pool: in a crowd (hundreds of pages at once, each with a budget call and cache
    # reads) a Redis call waits a moment for a free connection; redis-py's default pool refuses
    # ("Too many connections") past 100, which failed the lookups.
    pool = async_connection_pool("keys", max_connections=REDIS_CONNECTIONS, timeout=2)
    state = _LoopState(session, asyncio.Semaphore(cap), aioredis.Redis.from_pool(pool), _ProcessBudget())
    _states[id(loop)] = (loop, state)
    _close_at_server_shutdown()
    return state


def _close_at_server_shutdown() -> None:
    """Under daphne, close the session and pool when the server stops (an unclosed aiohttp session
    logs a warning and drops its connections uncleanly). Django's ASGI handler has no lifespan
    events, so the hook is Twisted's, whose reactor daphne runs on asyncio's loop."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or getattr(_close_at_server_shutdown, "registered", False):
        return
    from twisted.internet.defer import Deferred

    def close():
        return Deferred.fromFuture(asyncio.ensure_future(client_close()))

    reactor.addSystemEventTrigger("before", "shutdown", close)
    _close_at_server_shutdown.registered = True


async def client_close() -> None:
    """Close this loop's session and Redis pool (tests and scripts call it before their loop ends)."""
    entry = _states.pop(id(asyncio.get_running_loop()), None)
    if entry is not None:
        await entry[1].session.close()
        await entry[1].redis.aclose()


# --- one upstream GET with limits and retries ---

def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    limit = settings.WEATHER_MAX_RESPONSE_BYTES
    if response.content_length is not None and response.content_length > limit:
        raise WeatherError("too_large", _("The weather service sent an answer too large to accept."))
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise WeatherError("too_large", _("The weather service sent an answer too large to accept."))
    return bytes(body)


def _timed_out() -> WeatherError:
    return WeatherError("timeout", _("The weather service did not answer in time."))


def city_deadline() -> float:
    """The event-loop time by which one city's answer must be in, whatever it waits for."""
    return asyncio.get_running_loop().time() + settings.WEATHER_CITY_DEADLINE_SECONDS


async def _attempt(url: str, params: dict, deadline: float) -> dict:
    state = _state()
    timeout = aiohttp.ClientTimeout(total=settings.WEATHER_TIMEOUT_SECONDS,
                                    connect=settings.WEATHER_CONNECT_TIMEOUT_SECONDS)
    # The wait for a slot counts against the city's deadline: in a crowd, queueing is the slow part.
    city_time = asyncio.timeout_at(deadline)
    try:
        async with city_time, state.semaphore:
            async with state.session.get(url, params=params, timeout=timeout, allow_redirects=False) as response:
                if response.status == 429:
                    raise _Retryable(WeatherError("rate_limited", _("The weather service is rate-limiting us; try again shortly.")),
                                     _retry_after_seconds(response.headers.get("Retry-After")))
                if response.status >= 500:
                    raise _Retryable(WeatherError("upstream", format_lazy(_("The weather service failed (HTTP {status})."), status=response.status)),
                                     _retry_after_seconds(response.headers.get("Retry-After")))
                body = await _read_limited(response)
                status = response.status
    except TimeoutError:
        if city_time.expired():
            raise _timed_out() from None  # the city's time is up: no retry
        raise _Retryable(_timed_out()) from None
    except aiohttp.ClientError as error:
        raise _Retryable(WeatherError("upstream", format_lazy(_("Could not reach the weather service ({error})."),
                                                         error=type(error).__name__))) from None
    try:
        data = json.loads(body)
    except ValueError:
        raise WeatherError("malformed", _("The weather service sent an answer we could not read.")) from None
    if not isinstance(data, dict):
        raise WeatherError("malformed", _("The weather service sent an answer we could not read."))
    if status != 200:
        reason = data.get("reason") if data.get("error") else None
        raise WeatherError("upstream", format_lazy(_("The weather service refused the request: {reason}."),
                                                  reason=reason or f"HTTP {status}"))
    return data


async def upstream_get(*, url: str, params: dict, deadline: float | None = None,
                       budget: UpstreamBudget | None = None) -> dict:
    """GET a JSON object from Open-Meteo, retrying transient failures with back-off and jitter, all
    within `deadline` (loop time; default: a city's deadline from now); each attempt is charged to
    `budget` (default: a budget of its own)."""
    attempts = settings.WEATHER_RETRIES + 1
    base = settings.WEATHER_RETRY_BACKOFF_MS / 1000
    loop = asyncio.get_running_loop()
    deadline = city_deadline() if deadline is None else deadline
    budget = UpstreamBudget(calls=1) if budget is None else budget
    endpoint = "geocoding" if url == settings.WEATHER_GEOCODING_URL else "forecast"
    for attempt in range(attempts):
        await budget.take()
        WEATHER_UPSTREAM_REQUESTS.inc(endpoint)
        try:
            return await _attempt(url, params, deadline)
        except WeatherError as error:
            WEATHER_UPSTREAM_ERRORS.inc(endpoint, error.kind)
            raise
        except _Retryable as retryable:
            WEATHER_UPSTREAM_ERRORS.inc(endpoint, retryable.error.kind)
            if attempt + 1 >= attempts:
                raise retryable.error from None
            if retryable.retry_after is not None:
                if retryable.retry_after > settings.WEATHER_RETRY_AFTER_MAX_SECONDS:
                    raise retryable.error from None
                # Honour Retry-After; a little jitter so clients told the same time don't return together.
                delay = retryable.retry_after + random.uniform(0, base)
            else:
                delay = random.uniform(0, base * 2**attempt)  # full jitter
            if loop.time() + delay >= deadline:
                raise retryable.error from None  # no time left for another attempt
            logger.info("weather upstream %s (%s); retry %d in %.2fs", url, retryable.error.kind, attempt + 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# --- parsing (pure functions, shared with bench/'s baselines) ---

def place_not_found(name: str) -> WeatherError:
    """"No such place", remembering the name: the cache keeps the name, and the words are put
    together in each reader's language."""
    error = WeatherError("not_found", format_lazy(_("No place called “{name}” was found."), name=name))
    error.place = name
    return error


def place_from_geocoding(data: dict, *, name: str) -> dict:
    results = data.get("results")
    if not results:
        raise place_not_found(name)
    try:
        first = results[0]
        return {
            "name": str(first["name"]), "latitude": float(first["latitude"]), "longitude": float(first["longitude"]),
            "country": str(first.get("country") or ""), "country_code": str(first.get("country_code") or ""),
            "admin1": str(first.get("admin1") or ""), "timezone": str(first.get("timezone") or "GMT"),
        }
    except (KeyError, TypeError, ValueError, IndexError):
        raise WeatherError("malformed", _("The weather service sent a place we could not read.")) from None


def forecast_checked(data: dict) -> dict:
    """The forecast with the fields the card needs, or WeatherError("malformed")."""
    try:
        current = data["current"]
        checked = {
            "utc_offset_seconds": int(data.get("utc_offset_seconds") or 0),
            "timezone": str(data.get("timezone") or ""),
            "units": dict(data.get("current_units") or {}),
            "current": {
                "time": str(current["time"]),
                "temperature_2m": float(current["temperature_2m"]),
                "apparent_temperature": float(current["apparent_temperature"]),
                "relative_humidity_2m": float(current["relative_humidity_2m"]),
                "wind_speed_10m": float(current["wind_speed_10m"]),
                "weather_code": int(current["weather_code"]),
            },
            "hourly": {
                "time": [str(t) for t in data["hourly"]["time"]][:24],
                "temperature_2m": [None if t is None else float(t) for t in data["hourly"]["temperature_2m"]][:24],
            },
        }
    except (KeyError, TypeError, ValueError):
        raise WeatherError("malformed", _("The weather service sent a forecast we could not read.")) from None
    return checked


def geocoding_params(name: str) -> dict:
    return {"name": name, "count": "1", "language": "en", "format": "json"}


def forecast_params(latitude: float, longitude: float) -> dict:
    return {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}", "current": CURRENT_FIELDS,
            "hourly": "temperature_2m", "forecast_days": "1", "timezone": "auto"}


# --- the cache: fresh for a while, then kept longer as a stale fallback ---

def _cache_key(kind: str, text: str, *, upstream: str) -> str:
    # The upstream URL is part of the key: answers of the local fake are never served as Open-Meteo's.
    source = hashlib.sha256(upstream.encode()).hexdigest()[:12]
    return CACHE_PREFIX + kind + ":" + source + ":" + hashlib.sha256(text.encode()).hexdigest()[:32]


async def _cache_read(key: str) -> dict | None:
    """The cache entry for `key`. Visitors asking for the same key at the same moment (a popular
    city) share one Redis read instead of queueing one each for the pool's connections; the entry is
    only read, never changed, by its users."""
    reads = _state().reads
    read = reads.get(key)
    if read is None:
        read = reads[key] = asyncio.ensure_future(_cache_read_now(key))
        read.add_done_callback(lambda _done: reads.pop(key, None))
    # Shielded: a visitor who leaves must not cancel the read for the others.
    return await asyncio.shield(read)


async def _cache_read_now(key: str) -> dict | None:
    try:
        raw = await _state().redis.get(key)
        return json.loads(raw) if raw else None
    except (aioredis.RedisError, OSError, ValueError) as error:
        logger.warning("weather cache read failed (%s); going upstream", error)
        return None


async def _cache_write(key: str, entry: dict, *, keep_seconds: int) -> None:
    try:
        await _state().redis.set(key, json.dumps({"stored_at": time.time(), **entry}), ex=max(1, keep_seconds))
    except (aioredis.RedisError, OSError) as error:
        logger.warning("weather cache write failed (%s)", error)


async def _cached(key: str, fresh_seconds: int, fetch, answer: CityAnswer, label: str, *, not_found_seconds: int = 0):
    """Cached value when fresh; else fetch (and store); on failure, an expired value marked stale.

    With `not_found_seconds`, "no such place" is remembered that long too: a typo (or a script
    asking for nonsense) costs one upstream call per period, not one per visit."""
    if not settings.WEATHER_CACHE_ENABLED:
        answer.upstream_calls += 1
        answer.sources.append(f"{label}:upstream")
        return await fetch()
    entry = await _cache_read(key)
    age = time.time() - entry["stored_at"] if entry else None
    if entry and NOT_FOUND in entry:
        if age < not_found_seconds:
            answer.sources.append(f"{label}:cache")
            raise place_not_found(entry[NOT_FOUND])
        entry = None
    if entry and age < fresh_seconds:
        answer.sources.append(f"{label}:cache")
        return entry["value"]
    try:
        answer.upstream_calls += 1
        value = await fetch()
    except WeatherError as error:
        if error.kind == "not_found" and not_found_seconds:
            await _cache_write(key, {NOT_FOUND: getattr(error, "place", "")}, keep_seconds=not_found_seconds)
        if entry is None or error.kind == "not_found":
            raise
        logger.info("weather %s failed (%s); serving a stale answer %.0fs old", label, error.kind, age)
        answer.stale_age_seconds = max(answer.stale_age_seconds or 0, age)
        answer.sources.append(f"{label}:stale")
        return entry["value"]
    await _cache_write(key, {"value": value}, keep_seconds=fresh_seconds + settings.WEATHER_STALE_KEEP_SECONDS)
    answer.sources.append(f"{label}:upstream")
    return value


async def city_answer_fetch(*, name: str, budget: UpstreamBudget | None = None) -> CityAnswer:
    """Geocode `name`, then fetch its forecast; each step cached, both within one deadline, upstream
    calls charged to `budget` (the page's). Raises WeatherError."""
    answer = CityAnswer(place={}, forecast={})
    deadline = city_deadline()
    budget = UpstreamBudget(calls=2) if budget is None else budget
    geocoding_url, forecast_url = settings.WEATHER_GEOCODING_URL, settings.WEATHER_FORECAST_URL

    async def geocode() -> dict:
        data = await upstream_get(url=geocoding_url, params=geocoding_params(name), deadline=deadline, budget=budget)
        return place_from_geocoding(data, name=name)

    normalized = " ".join(name.split()).casefold()
    answer.place = await _cached(_cache_key("geo", normalized, upstream=geocoding_url),
                                 settings.WEATHER_GEOCODING_CACHE_SECONDS, geocode, answer, "geocoding",
                                 not_found_seconds=settings.WEATHER_NOT_FOUND_CACHE_SECONDS)
    latitude, longitude = answer.place["latitude"], answer.place["longitude"]

    async def forecast() -> dict:
        data = await upstream_get(url=forecast_url, params=forecast_params(latitude, longitude), deadline=deadline,
                                  budget=budget)
        return forecast_checked(data)

    answer.forecast = await _cached(_cache_key("forecast", f"{latitude:.2f},{longitude:.2f}", upstream=forecast_url),
                                    settings.WEATHER_FORECAST_CACHE_SECONDS, forecast, answer, "forecast")
    return answer


# --- per-client rate limit (the site's one rate limiter, on this loop's async Redis client) ---

async def rate_limit_take(*, client: str, cost: int) -> float | None:
    """Count `cost` lookups for `client`; None when allowed, else seconds until its window ends."""
    limit = settings.WEATHER_RATE_LIMIT
    if not limit:
        return None
    window = settings.WEATHER_RATE_WINDOW_SECONDS
    counter = Counter("WEATHER_RATE_LIMIT", (limit, window), client)
    try:
        refusal = await rate_take_async(_state().redis, [counter], cost=cost)
    except Unavailable as error:
        # Fail closed: without Redis we cannot tell a visitor from a flood.
        logger.warning("weather rate limit unavailable (%s); refusing", error)
        return float(window)
    return None if refusal is None else float(refusal.retry_after)


# --- the global upstream budget (fixed windows in Redis, shared by every web process) ---

# Grants up to `want` calls if every window has room for at least `need`, charging every window the
# same, atomically: a refused request costs no quota. KEYS: one counter per window; ARGV: want,
# need, then limit and seconds per window (limit 0: no limit). Returns the calls granted, or
# -i when window i has no room.
_BUDGET_SCRIPT = """
local want, need = tonumber(ARGV[1]), tonumber(ARGV[2])
local grant = want
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i + 1])
  if limit > 0 then
    local room = limit - tonumber(redis.call('GET', KEYS[i]) or '0')
    if room < need then return -i end
    if room < grant then grant = room end
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], grant)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 2]) + 1)
end
return grant
"""
_BUDGET_WINDOWS = (("minute", 60), ("hour", 3600), ("day", 86400))
# Lazy: a refusal is kept and shown to later visitors, each in their own language.
_BUDGET_USED_UP = {
    "minute": _("This site's share of the weather service is used up for this minute; try again in {wait} s."),
    "hour": _("This site's share of the weather service is used up for this hour; try again in {wait} s."),
    "day": _("This site's share of the weather service is used up for this day; try again in {wait} s."),
}
# A process reserves calls in blocks of about 1/30 of the smallest limit (20 of 600 a minute): one
# Redis call serves several pages, and at most a block per process goes unused when a minute ends.
_BLOCK_SHARE, _BLOCK_MAX = 30, 100


def _budget_limits() -> tuple[int, int, int]:
    return (settings.WEATHER_UPSTREAM_PER_MINUTE, settings.WEATHER_UPSTREAM_PER_HOUR,
            settings.WEATHER_UPSTREAM_PER_DAY)


class _ProcessBudget:
    """The calls this process has reserved in the current minute and not yet handed to a page.

    The common case (calls in reserve) is plain arithmetic, no await: pages never queue behind a
    lock for it. When the reserve runs out, one page tops it up while the others wait on the same
    future and all wake together (an asyncio.Lock would wake them one per loop iteration, which
    measurably cost CPU with hundreds of pages at once); the next top-up asks for everything the
    waiting pages need, so a crowd arriving at once costs a couple of Redis calls, not one per block.
    A refusal is remembered until its window ends, so pages over budget do not each ask Redis again.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.minute = 0
        self._topping_up: asyncio.Future | None = None
        self._waiting = 0  # calls needed by the pages waiting for the top-up in flight
        self._refused: tuple[float, int, WeatherError] | None = None  # (until, for needs from, error)

    def _roll(self) -> int:
        minute = int(time.time() // 60)
        if minute != self.minute:  # reserved for a window that has ended: no longer ours to spend
            self.calls, self.minute = 0, minute
        return minute

    async def grant(self, need: int) -> None:
        """Hand `need` calls to a page: from this process's reserve, else one Redis call for a block."""
        limits = _budget_limits()
        if not any(limits):
            return
        while True:
            self._roll()
            if self.calls >= need:
                self.calls -= need
                return
            if self._refused is not None:
                until, refused_need, error = self._refused
                if time.time() < until and need >= refused_need:
                    raise error
                self._refused = None
            if self._topping_up is not None:
                self._waiting += need
                try:
                    await self._topping_up
                finally:
                    self._waiting -= need
                continue
            self._topping_up = asyncio.get_running_loop().create_future()
            try:
                block = min(_BLOCK_MAX, max(1, min(limit for limit in limits if limit) // _BLOCK_SHARE))
                self.calls += await _budget_reserve(want=max(block, need - self.calls + self._waiting),
                                                    need=need - self.calls,
                                                    limits=limits, now=time.time(), budget=self)
            finally:
                waiting, self._topping_up = self._topping_up, None
                waiting.set_result(None)

    def refused(self, *, until: float, need: int, error: WeatherError) -> None:
        self._refused = (until, need, error)

    def give_back(self, calls: int) -> None:
        if calls > 0 and self.minute == int(time.time() // 60):
            self.calls += calls


async def _budget_reserve(*, want: int, need: int, limits: tuple[int, int, int], now: float,
                          budget: _ProcessBudget) -> int:
    keys = [f"{CACHE_PREFIX}budget:{name}:{int(now // seconds)}" for name, seconds in _BUDGET_WINDOWS]
    args = [want, need]
    for limit, (_name, seconds) in zip(limits, _BUDGET_WINDOWS, strict=True):
        args += [limit, seconds]
    try:
        granted = await _state().redis.eval(_BUDGET_SCRIPT, len(keys), *keys, *args)
    except (aioredis.RedisError, OSError) as error:
        # Fail closed, like the per-client limit: without Redis the quota cannot be shared.
        logger.warning("weather upstream budget unavailable (%s); refusing", error)
        raise WeatherError("rate_limited", _("The weather service cannot be asked right now; try again shortly.")) from None
    if granted < 0:
        name, seconds = _BUDGET_WINDOWS[-granted - 1]
        wait = round((int(now // seconds) + 1) * seconds - now)
        logger.warning("weather upstream budget for this %s is used up (%s calls); %ss to go",
                       name, limits[-granted - 1], wait)
        error = WeatherError("rate_limited", format_lazy(_BUDGET_USED_UP[name], wait=wait))
        budget.refused(until=now + wait, need=need, error=error)
        raise error
    return granted


class UpstreamBudget:
    """A page's share of the global upstream budget.

    The page's first upstream call takes `calls` (a geocoding and a forecast per city: what the page
    needs when nothing is cached and nothing is retried) from the process's reserve, which makes at
    most one Redis call to top itself up; the page's other calls draw on its share. A page served
    from the cache asks nothing. Retries beyond the share ask for one call each. `give_back()` returns
    what the page did not use (its cities were cached). Over budget: WeatherError("rate_limited"),
    which serves a stale answer when there is one.
    """

    def __init__(self, *, calls: int) -> None:
        self.calls = max(1, calls)
        self.left = 0
        self.asked = False
        self._asking: asyncio.Future | None = None

    async def take(self) -> None:
        while self.left <= 0:
            if self._asking is not None:  # another of the page's cities is asking for the page
                await self._asking
                continue
            self._asking = asyncio.get_running_loop().create_future()
            try:
                need = 1 if self.asked else self.calls
                await _state().budget.grant(need)
                self.asked, self.left = True, self.left + need
            finally:
                waiting, self._asking = self._asking, None
                waiting.set_result(None)
        self.left -= 1

    def give_back(self) -> None:
        if self.left > 0:
            _state().budget.give_back(self.left)
            self.left = 0
